// pybind11 bindings of the C++ attack: the Python module dprobe._pipeline.
#include <torch/extension.h>

#include "pipeline/attack.h"

namespace py = pybind11;
using dprobe::pipeline::AppearanceAttack;
using dprobe::pipeline::AttackOptions;
using dprobe::pipeline::AttackOutput;

PYBIND11_MODULE(_pipeline, m) {
  m.doc() = "The appearance-only attack in C++ over exported TorchScript modules.";
  py::class_<AppearanceAttack>(m, "AppearanceAttack")
      .def(py::init<const std::string&>(), py::arg("export_dir"))
      .def_property_readonly("crop_size", &AppearanceAttack::crop_size)
      .def("predict", &AppearanceAttack::predict, py::arg("frames"),
           py::call_guard<py::gil_scoped_release>())
      .def(
          "run",
          [](const AppearanceAttack& self, const torch::Tensor& frames,
             const torch::Tensor& backgrounds, std::optional<torch::Tensor> boxes,
             double threshold_mm, int64_t iterations, double lr, double eps, double beta1,
             double beta2, double adam_eps) {
            AttackOptions opt{threshold_mm, iterations, lr, eps, beta1, beta2, adam_eps};
            AttackOutput o;
            {
              py::gil_scoped_release release;
              o = self.run(frames, backgrounds, boxes, opt);
            }
            py::dict d;
            d["initial"] = o.initial;
            d["final"] = o.final;
            d["iterations"] = o.iterations;
            d["success"] = o.success;
            d["q"] = o.q;
            d["pred_final"] = o.pred_final;
            d["x_initial"] = o.x_initial;
            d["x_final"] = o.x_final;
            d["h_final"] = o.h_final;
            return d;
          },
          py::arg("frames"), py::arg("backgrounds"), py::arg("boxes") = py::none(),
          py::arg("threshold_mm") = 150.0, py::arg("iterations") = 50, py::arg("lr") = 0.05,
          py::arg("eps") = 0.0, py::arg("beta1") = 0.9, py::arg("beta2") = 0.999,
          py::arg("adam_eps") = 1e-8);
  m.def("load_op_library", &dprobe::pipeline::load_op_library, py::arg("path"));
}
