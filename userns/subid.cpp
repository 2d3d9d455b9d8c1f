#include "userns/subid.hpp"
