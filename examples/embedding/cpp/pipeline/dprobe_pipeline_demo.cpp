// dprobe_pipeline_demo: run an exported model and the appearance-only attack from C++ only.
//
//   dprobe_pipeline_demo EXPORT_DIR OPS_LIBRARY INPUTS.pt [ITERATIONS [THRESHOLD_MM]]
//
// EXPORT_DIR is written by `dprobe export --formats torchscript`, OPS_LIBRARY is dprobe's op
// library (lib_C.so), INPUTS.pt a TorchScript module holding the tensors `frames` and
// `backgrounds` (B, 3, H, W) and optionally `boxes` (B, 3) px (examples/embedding/make_pipeline_inputs.py).
// Prints one line per sample of the end-to-end prediction (`joints b` + 51 values, mm) and of
// the attack (`attack b initial_mm final_mm iterations success`).
#include <pipeline/attack.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s EXPORT_DIR OPS_LIBRARY INPUTS.pt [ITERATIONS [THRESHOLD_MM]]\n",
                 argv[0]);
    return 2;
  }
  try {
    dprobe::pipeline::load_op_library(argv[2]);
    torch::jit::Module inputs = torch::jit::load(argv[3]);
    torch::Tensor frames = inputs.attr("frames").toTensor();
    torch::Tensor backgrounds = inputs.attr("backgrounds").toTensor();
    std::optional<torch::Tensor> boxes;
    if (inputs.hasattr("boxes")) boxes = inputs.attr("boxes").toTensor();

    dprobe::pipeline::AppearanceAttack attack(argv[1]);
    torch::Tensor joints = attack.predict(frames).contiguous();
    for (int64_t b = 0; b < joints.size(0); ++b) {
      std::printf("joints %lld", static_cast<long long>(b));
      const float* p = joints[b].data_ptr<float>();
      for (int64_t i = 0; i < joints[b].numel(); ++i) std::printf(" %.9g", p[i]);
      std::printf("\n");
    }

    dprobe::pipeline::AttackOptions options;
    if (argc > 4) options.iterations = std::atoll(argv[4]);
    if (argc > 5) options.threshold_mm = std::atof(argv[5]);
    dprobe::pipeline::AttackOutput out = attack.run(frames, backgrounds, boxes, options);
    for (int64_t b = 0; b < out.initial.size(0); ++b) {
      std::printf("attack %lld %.9g %.9g %lld %d\n", static_cast<long long>(b),
                  out.initial[b].item<float>(), out.final[b].item<float>(),
                  static_cast<long long>(out.iterations[b].item<int64_t>()),
                  out.success[b].item<bool>() ? 1 : 0);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dprobe_pipeline_demo: %s\n", e.what());
    return 1;
  }
  return 0;
}
