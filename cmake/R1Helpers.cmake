# Small helpers shared by every folder's CMakeLists.txt.
#
# The LibTorch line: a library is made with r1_library (no LibTorch) or r1_torch_library (LibTorch).
# Each records its name in a global property, and the test `libtorch line` (tests/CMakeLists.txt,
# scripts/check_libtorch_line.py) checks from compile_commands.json that no source of a LibTorch-free
# library reaches a LibTorch header, directly or through another header.

# r1_library(NAME SOURCES... ): a static library with the project's warnings and include root; no LibTorch.
function(r1_library name)
  add_library(${name} STATIC ${ARGN})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  set_property(GLOBAL APPEND PROPERTY R1_TORCH_FREE_TARGETS ${name})
endfunction()

# r1_torch_library(NAME SOURCES... ): the same, linked with LibTorch (privately: its public headers
# may include LibTorch's, its users link what they need).
function(r1_torch_library name)
  add_library(${name} STATIC ${ARGN})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  target_link_libraries(${name} PRIVATE ${TORCH_LIBRARIES})
  set_property(GLOBAL APPEND PROPERTY R1_TORCH_TARGETS ${name})
endfunction()
