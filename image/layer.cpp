#include "image/layer.hpp"
