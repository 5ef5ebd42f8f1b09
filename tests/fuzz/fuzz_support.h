// What the libFuzzer harnesses share: a scratch directory on tmpfs (the
// harnesses write files for every input), the fixed test owner key that seed
// segments are encrypted to, and a reader that splits one input into fields.
#pragma once

#include <sodium.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include <fcntl.h>

#include "keys.h"
#include "log.h"

namespace porchlight::fuzz {

/// A directory removed with everything in it when the harness exits; on
/// /dev/shm when there is one, so that per-input writes and fsyncs cost
/// nothing.
class ScratchDir {
public:
    explicit ScratchDir(const char* name) {
        std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
        if (const char* t = std::getenv("PORCHLIGHT_FUZZ_TMPDIR"))
            base = t;
        std::string templ = base + "/" + name + "-XXXXXX";
        if (!::mkdtemp(templ.data())) {
            std::perror("mkdtemp");
            std::abort();
        }
        path_ = templ;
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

/// The log goes to /dev/null: results are checked by the harness, and a
/// line per input would only slow the run (PORCHLIGHT_FUZZ_LOG=1 keeps it).
inline void quietLogs() {
    if (std::getenv("PORCHLIGHT_FUZZ_LOG"))
        return;
    applyLogSpec("error");
    setLogFd(::open("/dev/null", O_WRONLY | O_CLOEXEC));
}

/// Empty \a dir without removing it.
inline void clearDir(const std::filesystem::path& dir) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
        std::filesystem::remove_all(entry.path(), ec);
}

inline void writeFile(const std::filesystem::path& path, std::span<const uint8_t> data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
}

/// The owner key the seed segments are encrypted to: derived from a fixed
/// seed, so that a committed seed decrypts in every run and the fuzzer
/// reaches the code behind the authentication. A test key, nothing else.
inline keys::OwnerKeyPair testOwner() {
    if (sodium_init() < 0)
        std::abort();
    unsigned char seed[crypto_box_SEEDBYTES];
    for (size_t i = 0; i < sizeof seed; ++i)
        seed[i] = static_cast<unsigned char>("porchlight fuzz test owner key!!"[i % 32]);
    keys::OwnerKeyPair owner;
    owner.secretKey = keys::SecretBytes(crypto_box_SECRETKEYBYTES);
    crypto_box_seed_keypair(owner.publicKey.data(), owner.secretKey.data(), seed);
    return owner;
}

/// Takes fields off the front of a fuzz input; past its end every read
/// gives zeros or empty, so a harness never has to check.
class Input {
public:
    Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
    bool empty() const { return size_ == 0; }
    size_t size() const { return size_; }
    uint8_t byte() {
        if (size_ == 0)
            return 0;
        --size_;
        return *data_++;
    }
    uint32_t u32() {
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i)
            v = (v << 8) | byte();
        return v;
    }
    /// Up to \a max bytes, the length taken from the input.
    std::span<const uint8_t> bytes(size_t max) {
        size_t n = std::min<size_t>({u32() % (max + 1), size_, max});
        std::span<const uint8_t> out(data_, n);
        data_ += n;
        size_ -= n;
        return out;
    }
    std::span<const uint8_t> rest() {
        std::span<const uint8_t> out(data_, size_);
        data_ += size_;
        size_ = 0;
        return out;
    }

private:
    const uint8_t* data_;
    size_t size_;
};

}  // namespace porchlight::fuzz
