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
# libstb-dev: tests only, writing PNG images (stb_image_write) and reading figures back.
find_path(STB_INCLUDE_DIR stb_image_write.h PATH_SUFFIXES stb REQUIRED)
find_library(STB_LIBRARY stb REQUIRED)
add_library(convlab_stb INTERFACE)
target_include_directories(convlab_stb INTERFACE ${STB_INCLUDE_DIR})
target_link_libraries(convlab_stb INTERFACE ${STB_LIBRARY})
# libturbojpeg0-dev: JPEG decoding with libjpeg-turbo, as Pillow and torchvision decode.
find_package(PkgConfig REQUIRED)      # pkg-config
pkg_check_modules(TURBOJPEG REQUIRED IMPORTED_TARGET libturbojpeg)
# libcairo2-dev: figures as PNG, PDF and SVG; its FreeType (libfreetype-dev) loads the font.
find_path(CAIRO_INCLUDE_DIR cairo.h PATH_SUFFIXES cairo REQUIRED)
find_library(CAIRO_LIBRARY cairo REQUIRED)
find_package(Freetype REQUIRED)
add_library(convlab_cairo INTERFACE)
target_include_directories(convlab_cairo INTERFACE ${CAIRO_INCLUDE_DIR})
target_link_libraries(convlab_cairo INTERFACE ${CAIRO_LIBRARY} Freetype::Freetype)
find_path(CBLAS_INCLUDE_DIR cblas.h PATHS /usr/include/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp
          NO_DEFAULT_PATH REQUIRED)
# LAPACK's C interface (liblapacke-dev): eigendecompositions for the Procrustes distance. The
# LAPACK routines themselves resolve to OpenBLAS's, which is linked first.
find_path(LAPACKE_INCLUDE_DIR lapacke.h REQUIRED)
find_library(LAPACKE_LIBRARY lapacke REQUIRED)
