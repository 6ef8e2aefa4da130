// dprobe::composite_crop — fused "paste a crop into the frame over the background, then crop the
// target box out of the composite" (dprobe/ops.py). Shared declarations of the schema checks and
// the CPU kernels; the registrations live in ops/, cpu/ and autograd/.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

#include <array>
#include <tuple>

namespace dprobe {

// Validates shapes, dtypes, devices, out_size and the thetas (finite, src_theta invertible).
// Throws a c10::Error (RuntimeError in Python) with a message naming the bad argument.
// `check_values` reads the thetas (skip it for meta tensors).
void check_composite_crop_args(const at::Tensor& fg, const at::Tensor& mask,
                               const at::Tensor& background, const at::Tensor& src_theta,
                               const at::Tensor& dst_theta, c10::IntArrayRef out_size,
                               bool check_values);

// CPU kernels (csrc/cpu/composite_crop_kernel.cpp).
at::Tensor composite_crop_cpu(const at::Tensor& fg, const at::Tensor& mask,
                              const at::Tensor& background, const at::Tensor& src_theta,
                              const at::Tensor& dst_theta, c10::IntArrayRef out_size);

// Returns (grad_fg, grad_mask, grad_background, grad_src_theta, grad_dst_theta). A gradient whose
// output_mask entry is false is returned as an empty (numel 0) tensor and not computed.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> composite_crop_backward_cpu(
    const at::Tensor& grad_out, const at::Tensor& fg, const at::Tensor& mask,
    const at::Tensor& background, const at::Tensor& src_theta, const at::Tensor& dst_theta,
    std::array<bool, 5> output_mask);

// Switches the tiled general-affine path of the CPU kernels on or off (on by default; off, rotated
// / sheared batches take the general kernel); returns the previous setting. For tests and
// benchmarks (op dprobe::_composite_crop_set_tiled).
bool composite_crop_set_tiled(bool enabled);

}  // namespace dprobe
