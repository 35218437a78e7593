// CKA with a layer whose kernel does not vary over the examples (constant features) is 0/0.
// That is a property of the data, not an error: the value is NaN and stderr says which layer.
#pragma once

#include <string>

namespace convlab::cka {

// Prints one line naming the pair and which of the two has zero self-HSIC.
void warn_undefined_cka(const std::string& label_x, bool x_constant, const std::string& label_y, bool y_constant);

// Prints one line naming a layer whose self-HSIC is zero over all batches seen.
void warn_constant_layer(const std::string& label);

}  // namespace convlab::cka
