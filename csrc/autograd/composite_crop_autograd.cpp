// C++ autograd of dprobe::composite_crop, registered for the Autograd dispatch key so that the op
// differentiates wherever it is called from: eager Python, a TorchScript module, or a C++ program
// with no Python at all. The backward is the op dprobe::composite_crop_backward (CPU kernel in
// csrc/cpu, fake kernel in dprobe/ops.py), which computes only the gradients that are needed.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <array>
#include <vector>

namespace dprobe {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor call_forward(const at::Tensor& fg, const at::Tensor& mask, const at::Tensor& background,
                        const at::Tensor& src_theta, const at::Tensor& dst_theta,
                        c10::IntArrayRef out_size) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("dprobe::composite_crop", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                         const at::Tensor&, const at::Tensor&, c10::IntArrayRef)>();
  return op.call(fg, mask, background, src_theta, dst_theta, out_size);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> call_backward(
    const at::Tensor& grad_out, const at::Tensor& fg, const at::Tensor& mask,
    const at::Tensor& background, const at::Tensor& src_theta, const at::Tensor& dst_theta,
    std::array<bool, 5> output_mask) {
  static auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("dprobe::composite_crop_backward", "")
          .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>(
              const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
              const at::Tensor&, const at::Tensor&, std::array<bool, 5>)>();
  return op.call(grad_out, fg, mask, background, src_theta, dst_theta, output_mask);
}

class CompositeCropFunction : public torch::autograd::Function<CompositeCropFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& fg, const at::Tensor& mask,
                            const at::Tensor& background, const at::Tensor& src_theta,
                            const at::Tensor& dst_theta, c10::IntArrayRef out_size) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({fg, mask, background, src_theta, dst_theta});
    return call_forward(fg, mask, background, src_theta, dst_theta, out_size);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    std::array<bool, 5> need{};
    for (size_t i = 0; i < 5; ++i) need[i] = ctx->needs_input_grad(i);
    variable_list result(6);  // the 6th input, out_size, gets no gradient
    at::Tensor grad = grad_outputs[0];
    if (!grad.defined() || !(need[0] || need[1] || need[2] || need[3] || need[4])) return result;
    auto grads = call_backward(grad, saved[0], saved[1], saved[2], saved[3], saved[4], need);
    if (need[0]) result[0] = std::get<0>(grads);
    if (need[1]) result[1] = std::get<1>(grads);
    if (need[2]) result[2] = std::get<2>(grads);
    if (need[3]) result[3] = std::get<3>(grads);
    if (need[4]) result[4] = std::get<4>(grads);
    return result;
  }
};

at::Tensor composite_crop_autograd(const at::Tensor& fg, const at::Tensor& mask,
                                   const at::Tensor& background, const at::Tensor& src_theta,
                                   const at::Tensor& dst_theta, c10::IntArrayRef out_size) {
  return CompositeCropFunction::apply(fg, mask, background, src_theta, dst_theta, out_size);
}

}  // namespace
}  // namespace dprobe

TORCH_LIBRARY_IMPL(dprobe, Autograd, m) {
  m.impl("composite_crop", &dprobe::composite_crop_autograd);
}
