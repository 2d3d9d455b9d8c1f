#include "image/store.hpp"
