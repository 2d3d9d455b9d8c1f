#pragma once

#include <string>

#include "image/store.hpp"

namespace roost::image {

// An image record as stored in images/ID.json.
std::string record_to_json(const ImageRecord& record);

// Throws Error naming `origin` when the text is not a record.
ImageRecord record_from_json(const std::string& text, const std::string& origin);

}  // namespace roost::image
