# Debian packages, installed by tools/install-deps.sh. Nothing is vendored here.
find_package(fmt REQUIRED)            # libfmt-dev
find_package(GTest REQUIRED)          # libgtest-dev
find_package(yaml-cpp REQUIRED)       # libyaml-cpp-dev: the reference's YAML configs
find_package(nlohmann_json 3 REQUIRED)  # nlohmann-json3-dev: safetensors headers, JSON lines
find_package(ZLIB REQUIRED)           # zlib1g-dev: reading .tar.gz data archives
find_package(OpenMP REQUIRED)         # gcc's libgomp: CPU backend threads
set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)           # libopenblas-dev: CPU GEMM for convolutions
find_path(STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb REQUIRED)  # libstb-dev
find_library(STB_LIBRARY stb REQUIRED)
add_library(convlab_stb INTERFACE)
target_include_directories(convlab_stb INTERFACE ${STB_INCLUDE_DIR})
target_link_libraries(convlab_stb INTERFACE ${STB_LIBRARY})
find_path(CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas-pthread openblas REQUIRED)
