from benchmarks.host import cpu_summary

INTEL = """processor\t: 0
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile
"""


def test_names_the_model_and_its_vector_and_bf16_flags():
    assert cpu_summary(INTEL) == "Intel(R) Xeon(R) Processor (avx2, avx512f, avx512_bf16, amx_bf16)"


def test_a_cpu_without_avx2_says_so():
    text = "model name\t: Old CPU\nflags\t\t: fpu sse2 avx\n"
    assert cpu_summary(text) == "Old CPU (no AVX2)"


def test_cpuinfo_without_flags_says_they_are_unknown():
    assert cpu_summary("model name\t: Some CPU\n") == "Some CPU (flags unknown)"
