#pragma once

#include <gtest/gtest.h>

#include <string>

#include "common/error.hpp"

namespace roost::testing {

// The message of the roost::Error that `f` throws; a test failure when it throws none.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "no Error was thrown";
  return "";
}

}  // namespace roost::testing
