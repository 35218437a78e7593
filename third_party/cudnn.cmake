# cuDNN ships with the CUDA toolkit on our machines (headers in the toolkit's include dir).
find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/include REQUIRED)
find_library(CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib REQUIRED)
add_library(convlab_cudnn INTERFACE)
target_include_directories(convlab_cudnn INTERFACE ${CUDNN_INCLUDE_DIR})
target_link_libraries(convlab_cudnn INTERFACE ${CUDNN_LIBRARY})
