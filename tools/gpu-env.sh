# The environment of convlab's GPU scripts (gpu-check.sh, gpu-full-run.sh), sourced, not run:
# where the CUDA libraries are found, how the bundle is unpacked, and the environment the
# machine's own Python must run in.
#
# The bundle (tools/gpu-bundle.sh) leaves the CUDA libraries out: libcudart.so.13,
# libcublas(Lt).so.13, libcudnn.so.9, libcusolver.so.12, libcusparse.so.12, libcurand.so.10 (the
# tests compare convlab's Philox with it), libnvJitLink.so.13
# come from the GPU machine. There, PyTorch's CUDA 13 wheels hold them under the venv's
# site-packages (nvidia/cu13/lib; cuDNN alone in nvidia/cudnn/lib), and a toolkit may hold
# them in /usr/local/cuda. Which of these exist is not known in advance, so every one that
# does goes on the search path.
#
#   CONVLAB_TORCH_VENV   the venv whose nvidia wheels are searched (/opt/torch/.venv)
#   CONVLAB_CUDA_ROOT    the CUDA toolkit's folder (/usr/local/cuda)

# Prints, one a line, every folder that may hold the CUDA libraries and exists, most
# specific first, each once.
convlab_cuda_library_dirs() {
  local venv=${CONVLAB_TORCH_VENV:-/opt/torch/.venv} cuda=${CONVLAB_CUDA_ROOT:-/usr/local/cuda}
  local -a candidates=()
  local site
  for site in "$venv"/lib/python3*/site-packages; do
    [[ -d $site/nvidia ]] || continue
    candidates+=("$site/nvidia/cudnn/lib" "$site/nvidia/cu13/lib" "$site"/nvidia/*/lib)
  done
  candidates+=("$cuda/lib64" "$cuda/lib" "$cuda/targets/x86_64-linux/lib")
  local dir seen=" "
  for dir in "${candidates[@]}"; do
    [[ -d $dir && $seen != *" $dir "* ]] || continue
    seen+="$dir "
    echo "$dir"
  done
}

# convlab_gpu_env BUNDLE_DIR WORK_DIR: the environment the bundle's programs run in.
# - LD_LIBRARY_PATH: the CUDA library folders, then the bundle, then what was there. The
#   environment from before is kept in CONVLAB_BEFORE_BUNDLE, a command prefix (env ...) for
#   the machine's own Python (the bundle's Debian libraries, libgomp or libexpat, must not
#   shadow the venv's).
# - The decoded-data cache in WORK_DIR/cache, the figures' font from the bundle (the machine
#   may have no Debian fonts), OpenMP threads that wait passively.
# - CONVLAB_UNBUFFERED: a command prefix that makes a program's output line-buffered, so that
#   a kill loses none of what it printed.
convlab_gpu_env() {
  local bundle work=$2 dir path=""
  bundle=$(cd "$1" && pwd)
  if [[ -v LD_LIBRARY_PATH ]]; then
    CONVLAB_BEFORE_BUNDLE=(env "LD_LIBRARY_PATH=$LD_LIBRARY_PATH")
  else
    CONVLAB_BEFORE_BUNDLE=(env -u LD_LIBRARY_PATH)
  fi
  while IFS= read -r dir; do path+="$dir:"; done < <(convlab_cuda_library_dirs)
  export LD_LIBRARY_PATH="$path$bundle${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CONVLAB_CACHE_DIR="$work/cache"
  [[ -f $bundle/DejaVuSans.ttf ]] && export CONVLAB_FONT="$bundle/DejaVuSans.ttf"
  export OMP_WAIT_POLICY=PASSIVE
  CONVLAB_UNBUFFERED=()
  command -v stdbuf >/dev/null && CONVLAB_UNBUFFERED=(stdbuf -oL -eL)
  return 0
}

# convlab_unpack_bundle ARCHIVE DEST: unpacks a .tar.xz or .tar.gz bundle into DEST with tar,
# or, where tar cannot (no xz program on the machine), with Python's tarfile module.
convlab_unpack_bundle() {
  local archive=$1 dest=$2 flag=z
  [[ $archive == *.xz ]] && flag=J
  mkdir -p "$dest"
  if [[ $flag == z ]] || command -v xz >/dev/null 2>&1; then
    tar -C "$dest" -x${flag}f "$archive" && return 0
    echo "tar could not unpack $archive; trying Python's tarfile" >&2
  fi
  python3 - "$archive" "$dest" <<'EOF'
import sys, tarfile
with tarfile.open(sys.argv[1]) as archive:
    try:
        archive.extractall(sys.argv[2], filter="data")
    except TypeError:  # Python before 3.12 has no filter argument
        archive.extractall(sys.argv[2])
EOF
}

# convlab_find_bundle BUNDLE_DIR: unpacks build-gpu/bundle.tar.xz (or .tar.gz) beside the
# folder when the folder is not there yet; fails, saying so, when neither is.
convlab_find_bundle() {
  local bundle=$1 parent archive
  [[ -d $bundle ]] && return 0
  parent=$(dirname "$bundle")
  for archive in "$parent/bundle.tar.xz" "$parent/bundle.tar.gz"; do
    if [[ -f $archive ]]; then
      convlab_unpack_bundle "$archive" "$parent" && [[ -d $bundle ]] && return 0
      echo "unpacking $archive did not give $bundle" >&2
      return 1
    fi
  done
  return 1
}

# convlab_cuda_libraries BINARY...: prints, for every CUDA library (libcu*, libnv*) the
# binaries need, where the dynamic linker finds it ("lib => path (binaries)"), and every
# library of any kind it does not find ("lib => not found (binaries)"). Returns 1 when one is
# not found or ldd cannot read a binary.
convlab_cuda_libraries() {
  local bin lines status=0
  declare -A where=() users=()
  for bin in "$@"; do
    if ! lines=$(ldd "$bin" 2>&1); then
      echo "$(basename "$bin"): ldd failed: $(head -n 1 <<<"$lines")"
      status=1
      continue
    fi
    local name arrow path rest
    while read -r name arrow path rest; do
      [[ $arrow == "=>" ]] || continue
      [[ $path == not ]] && path="not found"
      [[ $name == libcu* || $name == libnv* || $path == "not found" ]] || continue
      where[$name]=$path
      users[$name]+="${users[$name]:+, }$(basename "$bin")"
    done <<<"$lines"
  done
  for name in $(printf '%s\n' "${!where[@]}" | sort); do
    echo "$name => ${where[$name]} (${users[$name]})"
    [[ ${where[$name]} == "not found" ]] && status=1
  done
  return $status
}
