// dprobe_op_demo: run a TorchScript module that calls dprobe ops from C++ with no Python.
//
//   dprobe_op_demo MODULE.pt OP_LIBRARY.so
//
// MODULE.pt is written by examples/embedding/make_op_demo_module.py: a scripted module whose forward(fg, mask,
// background, src_theta, dst_theta) returns a scalar loss built on torch.ops.dprobe.composite_crop
// and which carries example inputs as attributes example_fg, example_mask, ... The program loads
// the op library (registering the schemas, the CPU kernels and the C++ autograd), loads the
// module, runs forward and backward with libtorch autograd and prints, one per line,
//   loss <value>
//   grad_norm <name> <L2 norm of d loss / d input>
//   grad_norm total <L2 norm over all inputs>
#include <dlfcn.h>
#include <torch/script.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODULE.pt OP_LIBRARY.so\n", argv[0]);
    return 2;
  }
  if (dlopen(argv[2], RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    std::fprintf(stderr, "dprobe_op_demo: cannot load the op library %s: %s\n", argv[2], dlerror());
    return 1;
  }
  try {
    torch::jit::Module module = torch::jit::load(argv[1]);
    module.eval();
    const std::vector<std::string> names = {"fg", "mask", "background", "src_theta", "dst_theta"};
    std::vector<torch::jit::IValue> inputs;
    std::vector<torch::Tensor> leaves;
    for (const auto& name : names) {
      torch::Tensor t = module.attr("example_" + name).toTensor().detach().clone();
      t.set_requires_grad(true);
      leaves.push_back(t);
      inputs.emplace_back(t);
    }
    torch::Tensor loss = module.forward(inputs).toTensor();
    loss.backward();
    std::printf("loss %.17g\n", loss.item<double>());
    double total = 0.0;
    for (size_t i = 0; i < names.size(); ++i) {
      const torch::Tensor g = leaves[i].grad();
      const double n = g.defined() ? g.to(torch::kDouble).norm().item<double>() : 0.0;
      total += n * n;
      std::printf("grad_norm %s %.17g\n", names[i].c_str(), n);
    }
    std::printf("grad_norm total %.17g\n", std::sqrt(total));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dprobe_op_demo: %s\n", e.what());
    return 1;
  }
  return 0;
}
