// Making elements by name, with errors a person can act on.
#pragma once

#include <gst/gst.h>

#include <string>
#include <string_view>

#include "expected.h"

namespace porchlight {

/// The Debian package that provides a GStreamer element factory.
std::string_view debianPackageFor(std::string_view factory);

bool elementAvailable(std::string_view factory);

/// A new element (floating: add it to a bin, which takes ownership), named
/// \a name so that errors and debug graphs say which one failed. A missing
/// factory is an error naming the package to install.
Expected<GstElement*> makeElement(std::string_view factory, std::string_view name);

}  // namespace porchlight
