// The appearance-only attack (the paper's Algorithm 1) in C++ over exported TorchScript modules.
//
// Follows dprobe/probes/attack.py step by step, with the target as its own generator (the
// "self" generator, a DecoderGenerator): same setup, same per-sample stopping, same Adam ascent
// arithmetic, same iteration counting. It needs the folder written by `dprobe export --formats
// torchscript` (locate.pt, encode.pt, decode.pt, regress.pt, attack_step.pt) and the dprobe op
// library loaded in the process (load_op_library, or `import dprobe.ops` from Python).
#pragma once

#include <torch/script.h>

#include <optional>
#include <string>

namespace dprobe {
namespace pipeline {

// Settings of the attack; the defaults are dprobe.probes.attack.AttackConfig's.
struct AttackOptions {
  double threshold_mm = 150.0;  // a sample succeeds once its MPJPE to q exceeds this
  int64_t iterations = 50;      // update budget K (K + 1 evaluations)
  double lr = 0.1;              // Adam step, times each sample's code RMS (dprobe.probes.attack.DEFAULT_LR)
  double eps = 0.0;             // budget |h - h0| <= eps |h0|; <= 0: none
  double beta1 = 0.9;
  double beta2 = 0.999;
  double adam_eps = 1e-8;
};

// Per-sample results (first dimension B): errors in mm, iterations used, success, the target's
// crops of the initial and the final synthesised frame, the final appearance codes.
struct AttackOutput {
  torch::Tensor initial;     // (B,) float, MPJPE (mm) of the unattacked resynthesis to q
  torch::Tensor final;       // (B,) float, MPJPE (mm) at the end
  torch::Tensor iterations;  // (B,) long
  torch::Tensor success;     // (B,) bool, final > threshold
  torch::Tensor q;           // (B, 17, 3) prediction on the original frames (mm)
  torch::Tensor pred_final;  // (B, 17, 3)
  torch::Tensor x_initial;   // (B, 3, c, c)
  torch::Tensor x_final;     // (B, 3, c, c)
  torch::Tensor h_final;     // (B, Da)
};

// dlopen the dprobe op library (lib_C.so) so that the modules' dprobe::composite_crop resolves.
void load_op_library(const std::string& path);

// Crops (B, C, size, size) of images (B, C, H, W) at theta (B, 2, 3): dprobe.geometry.crop_at.
torch::Tensor crop_at(const torch::Tensor& images, const torch::Tensor& theta, int64_t size);

// theta (B, 2, 3) of square boxes (B, 3) = (cx, cy, size) px: dprobe.geometry.box_to_theta.
torch::Tensor box_to_theta(const torch::Tensor& boxes, int64_t height, int64_t width);

class AppearanceAttack {
 public:
  // Load the TorchScript modules of an export folder (CPU).
  explicit AppearanceAttack(const std::string& export_dir);

  // Attack frames (B, 3, H, W) in [0, 1] over their backgrounds (B, 3, H, W). With boxes
  // (B, 3) px the crops are the boxes ("truth"), otherwise the model's S ("detector").
  AttackOutput run(const torch::Tensor& frames, const torch::Tensor& backgrounds,
                   const std::optional<torch::Tensor>& boxes,
                   const AttackOptions& options = AttackOptions()) const;

  // The end-to-end prediction (B, 17, 3) mm of frames (predict.pt).
  torch::Tensor predict(const torch::Tensor& frames) const;

  int64_t crop_size() const { return crop_size_; }

 private:
  mutable torch::jit::Module predict_, locate_, encode_, decode_, regress_, step_;
  int64_t crop_size_ = 0;
};

}  // namespace pipeline
}  // namespace dprobe
