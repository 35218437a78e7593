#!/usr/bin/env bash
# Downloads the official CIFAR-10 binary release (Krizhevsky, 2009), checks it and unpacks
# it: <folder>/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin.
#
#   tools/fetch-cifar10.sh [folder]     (default: ./data)
#
# The archive is kept next to the extracted folder: convlab can also read it directly.
# $CIFAR10_URL may name a mirror of the same file; its MD5 is checked all the same.
# convlab-train runs this script by itself when it finds no CIFAR-10.
set -euo pipefail

readonly URL="${CIFAR10_URL:-https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz}"
readonly MD5="c32a1d4ab5d03f1284b67883e8d87530"
readonly ARCHIVE_NAME="cifar-10-binary.tar.gz"

folder="${1:-./data}"
if [[ "$folder" == "-h" || "$folder" == "--help" ]]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
mkdir -p "$folder"
folder="$(cd "$folder" && pwd)"
archive="$folder/$ARCHIVE_NAME"
batches="$folder/cifar-10-batches-bin"

md5_of() {
  if command -v md5sum >/dev/null 2>&1; then
    md5sum "$1" | cut -d' ' -f1
  elif command -v md5 >/dev/null 2>&1; then
    md5 -q "$1"  # macOS
  else
    echo "fetch-cifar10: need md5sum or md5 to check the download" >&2
    exit 1
  fi
}

complete() {
  local name
  for name in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
    [[ -f "$batches/$name.bin" ]] || return 1
  done
}

if complete; then
  echo "CIFAR-10 is already in $batches"
  exit 0
fi

if [[ ! -f "$archive" || "$(md5_of "$archive")" != "$MD5" ]]; then
  echo "Downloading $URL (about 163 MB) ..."
  partial="$archive.partial"
  if command -v curl >/dev/null 2>&1; then
    curl -fL --retry 3 -o "$partial" "$URL" || { rm -f "$partial"; echo "fetch-cifar10: download failed" >&2; exit 1; }
  elif command -v wget >/dev/null 2>&1; then
    wget -O "$partial" "$URL" || { rm -f "$partial"; echo "fetch-cifar10: download failed" >&2; exit 1; }
  else
    echo "fetch-cifar10: need curl or wget to download $URL" >&2
    exit 1
  fi
  actual="$(md5_of "$partial")"
  if [[ "$actual" != "$MD5" ]]; then
    rm -f "$partial"
    echo "fetch-cifar10: the download's MD5 is $actual, expected $MD5; try again" >&2
    exit 1
  fi
  mv "$partial" "$archive"
fi

echo "Extracting into $folder ..."
tar -xzf "$archive" -C "$folder"
complete || { echo "fetch-cifar10: $archive did not hold the expected batch files" >&2; exit 1; }

echo "CIFAR-10 (official binary release) is in $batches"
echo "Pass that path or set CIFAR10_DIR=$batches (./data/cifar-10-batches-bin below the working directory is found without either)."
