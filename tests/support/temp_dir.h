// A scratch directory for one test, removed with everything in it afterwards.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace porchlight::test {

class TempDir {
public:
    explicit TempDir(const std::string& prefix = "porchlight") {
        std::string templ = ::testing::TempDir() + "/" + prefix + "-XXXXXX";
        EXPECT_NE(::mkdtemp(templ.data()), nullptr);
        path_ = templ;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace porchlight::test
