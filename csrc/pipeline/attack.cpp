// The appearance-only attack over exported TorchScript modules: see attack.h and the module
// docstring of dprobe/probes/attack.py, whose numbered steps the comments below refer to.
#include "pipeline/attack.h"

#include <dlfcn.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <cmath>
#include <stdexcept>
#include <unordered_map>

namespace dprobe {
namespace pipeline {

namespace {

torch::jit::Module load_module(const std::string& dir, const std::string& name,
                               std::unordered_map<std::string, std::string>* extra) {
  const std::string path = dir + "/" + name + ".pt";
  torch::jit::ExtraFilesMap files;
  if (extra != nullptr) files = {{"dprobe/crop_size", ""}};
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::kCPU, files);
  } catch (const c10::Error& e) {
    throw std::runtime_error("dprobe pipeline: cannot load " + path + " (write it with `dprobe "
                             "export --formats torchscript`; is the op library loaded?): " +
                             e.what_without_backtrace());
  }
  module.eval();
  if (extra != nullptr) {
    for (const auto& kv : files) (*extra)[kv.first] = kv.second;
  }
  return module;
}

torch::Tensor mpjpe(const torch::Tensor& pred, const torch::Tensor& q) {
  return at::linalg_vector_norm(pred - q, 2, {-1}).mean({-1});
}

std::vector<torch::Tensor> call(torch::jit::Module& module, std::vector<torch::jit::IValue> args) {
  torch::jit::IValue out = module.forward(std::move(args));
  if (out.isTuple()) {
    std::vector<torch::Tensor> result;
    for (const auto& v : out.toTupleRef().elements()) result.push_back(v.toTensor());
    return result;
  }
  return {out.toTensor()};
}

}  // namespace

void load_op_library(const std::string& path) {
  if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    throw std::runtime_error("dprobe pipeline: cannot load the op library " + path + ": " +
                             dlerror());
  }
}

torch::Tensor crop_at(const torch::Tensor& images, const torch::Tensor& theta, int64_t size) {
  auto grid = at::affine_grid_generator(theta.to(images.scalar_type()),
                                        {images.size(0), images.size(1), size, size}, false);
  return at::grid_sampler(images, grid, /*bilinear*/ 0, /*zeros*/ 0, false);
}

torch::Tensor box_to_theta(const torch::Tensor& boxes, int64_t height, int64_t width) {
  auto cx = boxes.select(-1, 0), cy = boxes.select(-1, 1), s = boxes.select(-1, 2);
  auto zero = torch::zeros_like(s);
  auto row0 = torch::stack({s / width, zero, 2 * cx / width - 1}, -1);
  auto row1 = torch::stack({zero, s / height, 2 * cy / height - 1}, -1);
  return torch::stack({row0, row1}, -2);
}

AppearanceAttack::AppearanceAttack(const std::string& export_dir) {
  std::unordered_map<std::string, std::string> extra;
  predict_ = load_module(export_dir, "predict", nullptr);
  locate_ = load_module(export_dir, "locate", nullptr);
  encode_ = load_module(export_dir, "encode", &extra);
  decode_ = load_module(export_dir, "decode", nullptr);
  regress_ = load_module(export_dir, "regress", nullptr);
  step_ = load_module(export_dir, "attack_step", nullptr);
  const std::string& size = extra["dprobe/crop_size"];
  if (size.empty()) {
    throw std::runtime_error("dprobe pipeline: " + export_dir + "/encode.pt does not record its "
                             "crop size; re-export it with this dprobe");
  }
  crop_size_ = std::stoll(size);
}

torch::Tensor AppearanceAttack::predict(const torch::Tensor& frames) const {
  torch::NoGradGuard no_grad;
  torch::jit::GraphOptimizerEnabledGuard plain(false);
  return call(predict_, {frames})[0];
}

AttackOutput AppearanceAttack::run(const torch::Tensor& frames, const torch::Tensor& backgrounds,
                                   const std::optional<torch::Tensor>& boxes,
                                   const AttackOptions& opt) const {
  TORCH_CHECK(frames.dim() == 4 && frames.size(1) == 3, "frames must be (B, 3, H, W)");
  TORCH_CHECK(backgrounds.sizes() == frames.sizes(), "backgrounds must be shaped like frames");
  TORCH_CHECK(opt.iterations >= 0 && opt.lr >= 0 && opt.threshold_mm >= 0,
              "iterations, lr and threshold_mm must be >= 0");
  // Run the frozen graphs as they are: the profiling executor would re-optimise them for every
  // batch size the per-sample stopping leaves (the graphs hold no fusable ops on the CPU).
  torch::jit::GraphOptimizerEnabledGuard plain(false);
  const int64_t c = crop_size_, K = opt.iterations;
  torch::Tensor theta, x_input, q, h_a0, h_p0, mask, scale;
  {  // setup, steps 1-2 (the target is its own generator, so theta_G = theta_T)
    torch::NoGradGuard no_grad;
    theta = boxes ? box_to_theta(*boxes, frames.size(2), frames.size(3))
                  : call(locate_, {frames})[0];
    x_input = crop_at(frames, theta, c);
    auto codes = call(encode_, {x_input});
    q = call(regress_, {codes[1]})[0];
    h_a0 = codes[0];
    h_p0 = codes[1];
    mask = call(decode_, {h_a0, h_p0})[1];
    scale = h_a0.square().mean({1}).sqrt().clamp_min(1e-12);
  }
  const int64_t B = q.size(0);
  // The active samples' state (rows in the order of `index`).
  torch::Tensor index = torch::arange(B), h = h_a0.clone(), m = torch::zeros_like(h_a0),
                v = torch::zeros_like(h_a0);
  torch::Tensor s_q = q, s_mask = mask, s_src = theta, s_dst = theta, s_bg = backgrounds,
                s_scale = scale, s_h0 = h_a0, s_hp = h_p0;
  AttackOutput out;
  out.initial = torch::zeros({B});
  out.final = torch::zeros({B});
  out.iterations = torch::zeros({B}, torch::kLong);
  out.q = q;
  out.pred_final = torch::zeros_like(q);
  out.x_initial = torch::zeros_like(x_input);
  out.x_final = torch::zeros_like(x_input);
  out.h_final = torch::zeros_like(h_a0);
  for (int64_t k = 0; k <= K; ++k) {
    const bool grad = k < K;
    torch::Tensor hk = h.detach().requires_grad_(grad), x, pred, error;
    {  // step 3
      torch::AutoGradMode mode(grad);
      auto res = call(step_, {hk, s_hp, s_mask, s_bg, s_src, s_dst});
      pred = res[0];
      x = res[1];
      error = mpjpe(pred, s_q);
    }
    auto e = error.detach();
    if (k == 0) {  // step 4
      out.initial.index_put_({index}, e);
      out.x_initial.index_put_({index}, x.detach());
    }
    auto done = e > opt.threshold_mm;  // step 5
    if (k == K) done = torch::ones_like(done);
    if (done.any().item<bool>()) {
      auto rows = index.index({done});
      out.final.index_put_({rows}, e.index({done}));
      out.pred_final.index_put_({rows}, pred.detach().index({done}));
      out.x_final.index_put_({rows}, x.detach().index({done}));
      out.h_final.index_put_({rows}, hk.detach().index({done}));
      out.iterations.index_put_({rows}, k);
    }
    if (k == K || done.all().item<bool>()) break;
    auto g = torch::autograd::grad({error.sum()}, {hk})[0];  // step 6
    h = h.detach();
    if (done.any().item<bool>()) {
      auto keep = ~done;
      index = index.index({keep});
      h = h.index({keep});
      m = m.index({keep});
      v = v.index({keep});
      s_q = s_q.index({keep});
      s_mask = s_mask.index({keep});
      s_src = s_src.index({keep});
      s_dst = s_dst.index({keep});
      s_bg = s_bg.index({keep});
      s_scale = s_scale.index({keep});
      s_h0 = s_h0.index({keep});
      s_hp = s_hp.index({keep});
      g = g.index({keep});
    }
    const double t = static_cast<double>(k + 1);
    m = opt.beta1 * m + (1 - opt.beta1) * g;
    v = opt.beta2 * v + (1 - opt.beta2) * g * g;
    auto m_hat = m / (1 - std::pow(opt.beta1, t));
    auto v_hat = v / (1 - std::pow(opt.beta2, t));
    auto step = opt.lr * s_scale.unsqueeze(1);
    h = h + step * m_hat / (v_hat.sqrt() + opt.adam_eps);
    if (opt.eps > 0) {  // step 7
      auto d = h - s_h0;
      auto limit = opt.eps * s_h0.norm(2, {1}, true);
      auto factor = (limit / d.norm(2, {1}, true).clamp_min(1e-30)).clamp_max(1.0);
      h = s_h0 + d * factor;
    }
  }  // step 8: the decoder generator's projection is the identity
  out.success = out.final > opt.threshold_mm;
  return out;
}

}  // namespace pipeline
}  // namespace dprobe
