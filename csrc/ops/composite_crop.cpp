// Schemas of the dprobe op library and the argument checks shared by every kernel.
#include "ops/composite_crop.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include <cmath>
#include <string>

#ifndef DPROBE_TORCH_VERSION
#define DPROBE_TORCH_VERSION "unknown"
#endif

namespace dprobe {

namespace {

void check_theta(const at::Tensor& theta, const char* name, int64_t batch) {
  TORCH_CHECK(theta.dim() == 3 && theta.size(1) == 2 && theta.size(2) == 3, "composite_crop: ",
              name, " must have shape (B, 2, 3), got ", theta.sizes());
  TORCH_CHECK(theta.size(0) == batch, "composite_crop: ", name, " has batch ", theta.size(0),
              " but fg has batch ", batch);
}

}  // namespace

void check_composite_crop_args(const at::Tensor& fg, const at::Tensor& mask,
                               const at::Tensor& background, const at::Tensor& src_theta,
                               const at::Tensor& dst_theta, c10::IntArrayRef out_size,
                               bool check_values) {
  TORCH_CHECK(fg.defined() && mask.defined() && background.defined() && src_theta.defined() &&
                  dst_theta.defined(),
              "composite_crop: all tensor arguments must be defined");
  TORCH_CHECK(fg.dim() == 4, "composite_crop: fg must have shape (B, C, h, w), got ", fg.sizes());
  TORCH_CHECK(mask.dim() == 4, "composite_crop: mask must have shape (B, 1, h, w), got ",
              mask.sizes());
  TORCH_CHECK(background.dim() == 4,
              "composite_crop: background must have shape (B or 1, C, H, W), got ",
              background.sizes());
  const int64_t B = fg.size(0);
  TORCH_CHECK(mask.size(0) == B, "composite_crop: mask has batch ", mask.size(0),
              " but fg has batch ", B);
  TORCH_CHECK(mask.size(1) == 1, "composite_crop: mask must have 1 channel, got ", mask.size(1));
  TORCH_CHECK(mask.size(2) == fg.size(2) && mask.size(3) == fg.size(3),
              "composite_crop: mask spatial size ", mask.sizes().slice(2),
              " differs from fg spatial size ", fg.sizes().slice(2));
  TORCH_CHECK(background.size(0) == B || background.size(0) == 1,
              "composite_crop: background batch must be 1 or the fg batch ", B, ", got ",
              background.size(0));
  TORCH_CHECK(background.size(1) == fg.size(1), "composite_crop: background has ",
              background.size(1), " channels but fg has ", fg.size(1));
  TORCH_CHECK(fg.size(2) > 0 && fg.size(3) > 0, "composite_crop: fg must not be empty in space, got ",
              fg.sizes());
  TORCH_CHECK(background.size(2) > 0 && background.size(3) > 0,
              "composite_crop: background must not be empty in space, got ", background.sizes());
  check_theta(src_theta, "src_theta", B);
  check_theta(dst_theta, "dst_theta", B);
  TORCH_CHECK(out_size.size() == 2, "composite_crop: out_size must be (h, w), got ", out_size);
  TORCH_CHECK(out_size[0] > 0 && out_size[1] > 0,
              "composite_crop: out_size must be positive, got ", out_size);

  const auto dtype = fg.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble,
              "composite_crop: fg must be float32 or float64, got ", dtype);
  const at::Tensor* others[] = {&mask, &background, &src_theta, &dst_theta};
  const char* names[] = {"mask", "background", "src_theta", "dst_theta"};
  for (int i = 0; i < 4; ++i) {
    TORCH_CHECK(others[i]->scalar_type() == dtype, "composite_crop: ", names[i], " has dtype ",
                others[i]->scalar_type(), " but fg has dtype ", dtype,
                " (all inputs must share one floating dtype)");
    TORCH_CHECK(others[i]->device() == fg.device(), "composite_crop: ", names[i], " is on ",
                others[i]->device(), " but fg is on ", fg.device());
  }

  if (check_values && B > 0) {
    TORCH_CHECK(at::isfinite(src_theta).all().item<bool>(),
                "composite_crop: src_theta contains NaN or Inf");
    TORCH_CHECK(at::isfinite(dst_theta).all().item<bool>(),
                "composite_crop: dst_theta contains NaN or Inf");
    const at::Tensor st = src_theta.to(at::kDouble).contiguous();
    const double* p = st.data_ptr<double>();
    // The singularity rule of dprobe.geometry.singular_thetas (DET_RTOL, DET_ATOL).
    for (int64_t b = 0; b < B; ++b) {
      const double* t = p + 6 * b;
      const double det = t[0] * t[4] - t[1] * t[3];
      const double scale =
          std::max({std::abs(t[0]), std::abs(t[1]), std::abs(t[3]), std::abs(t[4])});
      TORCH_CHECK(std::abs(det) > 1e-12 * std::max(scale * scale, 1e-300) && std::abs(det) > 1e-30,
                  "composite_crop: src_theta[", b,
                  "] is not invertible (its 2x2 linear part has determinant ", det, ")");
    }
  }
}

namespace {
std::string torch_version() { return DPROBE_TORCH_VERSION; }
}  // namespace

}  // namespace dprobe

TORCH_LIBRARY(dprobe, m) {
  m.def(
      "composite_crop(Tensor fg, Tensor mask, Tensor background, Tensor src_theta, "
      "Tensor dst_theta, int[2] out_size) -> Tensor");
  m.def(
      "composite_crop_backward(Tensor grad_out, Tensor fg, Tensor mask, Tensor background, "
      "Tensor src_theta, Tensor dst_theta, bool[5] output_mask) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor)");
  // The torch version this library was compiled against (checked by dprobe.ops at load time).
  m.def("_torch_version() -> str", &dprobe::torch_version);
  // Test / benchmark switch of the CPU kernels' tiled general-affine path; returns the previous
  // setting (csrc/cpu/composite_crop_tiled.h).
  m.def("_composite_crop_set_tiled(bool enabled) -> bool", &dprobe::composite_crop_set_tiled);
}
