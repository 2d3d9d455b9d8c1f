#include "image/reference.hpp"
