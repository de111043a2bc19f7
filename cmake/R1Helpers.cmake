# Small helpers shared by every folder's CMakeLists.txt.

# r1_library(NAME SOURCES... ) : a static library with the project's warnings and include root.
function(r1_library name)
  add_library(${name} STATIC ${ARGN})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE -Wall -Wextra -Wno-unused-parameter)
endfunction()
