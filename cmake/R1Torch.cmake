# Finds LibTorch: Debian's 1.13 (CPU) by default, or any LibTorch >= 2.5 (CUDA or not) named by
#   -DR1_LIBTORCH=DIR (or the environment's R1_LIBTORCH): an unpacked LibTorch, or a folder holding
#     its share/cmake/Torch;
#   -DR1_TORCH_FROM_PYTHON=ON: the LibTorch inside the PyTorch that `python3` imports
#     (torch.utils.cmake_prefix_path).
# Sets R1_TORCH_CUDA (0/1), a compile definition everywhere, and checks the version: a LibTorch named
# on purpose must be 2.5 or newer (rowwise _scaled_mm, scaled_dot_product_attention), Debian's may
# be 1.13 (docs/gpu.md).
set(R1_LIBTORCH "$ENV{R1_LIBTORCH}" CACHE PATH "An unpacked LibTorch >= 2.5 to build against (empty: the system's)")
option(R1_TORCH_FROM_PYTHON "Build against the LibTorch of python3's PyTorch" OFF)

set(_r1_torch_minimum 1.13)
if(R1_LIBTORCH)
  if(NOT EXISTS "${R1_LIBTORCH}")
    message(FATAL_ERROR "R1_LIBTORCH=${R1_LIBTORCH}: no such folder")
  endif()
  list(PREPEND CMAKE_PREFIX_PATH "${R1_LIBTORCH}" "${R1_LIBTORCH}/share/cmake")
  set(_r1_torch_minimum 2.5)
elseif(R1_TORCH_FROM_PYTHON)
  execute_process(COMMAND python3 -c "import torch; print(torch.utils.cmake_prefix_path)"
                  OUTPUT_VARIABLE _r1_torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_VARIABLE _r1_torch_error RESULT_VARIABLE _r1_torch_status)
  if(NOT _r1_torch_status EQUAL 0)
    message(FATAL_ERROR "R1_TORCH_FROM_PYTHON: python3 cannot import torch: ${_r1_torch_error}")
  endif()
  list(PREPEND CMAKE_PREFIX_PATH "${_r1_torch_prefix}")
  set(_r1_torch_minimum 2.5)
endif()

find_package(Torch REQUIRED)  # only r1_torch_library targets link it
if(Torch_VERSION VERSION_LESS _r1_torch_minimum)
  message(FATAL_ERROR "LibTorch ${Torch_VERSION} found (${Torch_DIR}); r1 needs ${_r1_torch_minimum} or newer here "
                      "(Debian's 1.13 for the CPU build, 2.5 or newer for a LibTorch named with R1_LIBTORCH or "
                      "R1_TORCH_FROM_PYTHON)")
endif()
# Every C++ library r1 links (gRPC, protobuf, GiNaC from Debian) uses the C++11 string ABI; a LibTorch
# built with the old one cannot share std::string with them.
if(TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=0")
  message(FATAL_ERROR "LibTorch ${Torch_VERSION} (${Torch_DIR}) was built with the pre-C++11 string ABI "
                      "(_GLIBCXX_USE_CXX11_ABI=0); r1 needs a cxx11-ABI LibTorch (PyTorch >= 2.7's wheels, or "
                      "the cxx11-abi LibTorch archive)")
endif()
if(TORCH_CUDA_LIBRARIES)
  set(R1_TORCH_CUDA 1)
else()
  set(R1_TORCH_CUDA 0)
endif()
add_compile_definitions(R1_TORCH_CUDA=${R1_TORCH_CUDA})
message(STATUS "LibTorch ${Torch_VERSION} (${Torch_DIR}), CUDA: ${R1_TORCH_CUDA}")
