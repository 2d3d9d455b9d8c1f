#include "image/config.hpp"
