# Debian packages, installed by tools/install-deps.sh. Nothing is vendored here.
find_package(fmt REQUIRED)            # libfmt-dev
find_package(GTest REQUIRED)          # libgtest-dev
find_package(yaml-cpp REQUIRED)       # libyaml-cpp-dev: the reference's YAML configs
find_package(nlohmann_json 3 REQUIRED)  # nlohmann-json3-dev: safetensors headers, JSON lines
find_package(GIF REQUIRED)            # libgif-dev: animated GIFs of CKA over training
find_package(ZLIB REQUIRED)           # zlib1g-dev: reading .tar.gz data archives
find_package(OpenMP REQUIRED)         # gcc's libgomp: CPU backend threads
# OpenBLAS built on OpenMP (libopenblas-openmp-dev): BLAS and convlab's own OpenMP loops then
# share one thread pool; the pthreads build's threads and OpenMP's spin-waiting threads
# slow each other down about threefold on two cores.
find_library(OPENBLAS_LIBRARY openblas PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp
             NO_DEFAULT_PATH REQUIRED)
set(BLAS_LIBRARIES ${OPENBLAS_LIBRARY})
find_package(PNG REQUIRED)            # libpng-dev: decoding PNG images
# libturbojpeg0-dev: decoding JPEG images (its CMake package also wants libjpeg62-turbo-dev)
find_path(TURBOJPEG_INCLUDE_DIR turbojpeg.h REQUIRED)
find_library(TURBOJPEG_LIBRARY turbojpeg REQUIRED)
add_library(convlab_turbojpeg INTERFACE)
target_include_directories(convlab_turbojpeg INTERFACE ${TURBOJPEG_INCLUDE_DIR})
target_link_libraries(convlab_turbojpeg INTERFACE ${TURBOJPEG_LIBRARY})
find_path(STB_INCLUDE_DIR stb_image_write.h PATH_SUFFIXES stb REQUIRED)  # libstb-dev
find_library(STB_LIBRARY stb REQUIRED)
add_library(convlab_stb INTERFACE)
target_include_directories(convlab_stb INTERFACE ${STB_INCLUDE_DIR})
target_link_libraries(convlab_stb INTERFACE ${STB_LIBRARY})
find_path(CBLAS_INCLUDE_DIR cblas.h PATHS /usr/include/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp
          NO_DEFAULT_PATH REQUIRED)
