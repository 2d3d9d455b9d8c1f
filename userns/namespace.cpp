#include "userns/namespace.hpp"
