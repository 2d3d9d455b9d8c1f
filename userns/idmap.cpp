#include "userns/idmap.hpp"
