// Softmax cross-entropy for one row of logits, with a stable log-sum-exp.
#pragma once

#include <math.h>  // also brings the float overloads into scope on the host

#include "kernels/hd.h"

namespace convlab::kernels {

// Returns -log softmax(row)[label] and writes softmax(row) to probs.
template <class T>
CONVLAB_HD T softmax_xent_row(const T* row, int classes, int label, T* probs) {
  T max_logit = row[0];
  for (int k = 1; k < classes; ++k) max_logit = row[k] > max_logit ? row[k] : max_logit;
  T total = 0;
  for (int k = 0; k < classes; ++k) {
    probs[k] = exp(row[k] - max_logit);
    total += probs[k];
  }
  for (int k = 0; k < classes; ++k) probs[k] /= total;
  return log(total) + max_logit - row[label];
}

// d loss / d logit_k for the mean over `batch` rows, scaled by the incoming gradient.
template <class T>
CONVLAB_HD T softmax_xent_grad(T prob, bool is_label, T grad_loss, int batch) {
  return (prob - (is_label ? T(1) : T(0))) * grad_loss / static_cast<T>(batch);
}

template <class T>
CONVLAB_HD int argmax_row(const T* row, int classes) {
  int best = 0;
  for (int k = 1; k < classes; ++k) best = row[k] > row[best] ? k : best;
  return best;
}

}  // namespace convlab::kernels
