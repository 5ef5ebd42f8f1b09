// The owner's keys: an X25519 pair whose secret half is stored only wrapped,
// once under the passphrase (Argon2id) and once under the recovery key.
//
// The device needs only the public key to record. The secret key is
// unwrapped into libsodium guarded memory when the owner logs in or runs the
// vault tool, and wiped when it is no longer needed.
#pragma once

#include <sodium.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "expected.h"

namespace porchlight::keys {

using PublicKey = std::array<uint8_t, crypto_box_PUBLICKEYBYTES>;

/// Bytes in libsodium guarded memory (sodium_malloc: guard pages, mlock'd,
/// wiped on free). Move-only.
class SecretBytes {
public:
    SecretBytes() = default;
    explicit SecretBytes(size_t size);
    ~SecretBytes();
    SecretBytes(SecretBytes&& o) noexcept;
    SecretBytes& operator=(SecretBytes&& o) noexcept;
    SecretBytes(const SecretBytes&) = delete;
    SecretBytes& operator=(const SecretBytes&) = delete;

    uint8_t* data() { return data_; }
    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

private:
    uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

/// The unwrapped key pair, secret half in guarded memory.
struct OwnerKeyPair {
    PublicKey publicKey{};
    SecretBytes secretKey;  // crypto_box_SECRETKEYBYTES
};

/// Argon2id cost, stored with each wrapped key so it can be raised later.
struct KdfParams {
    uint64_t opsLimit = 3;                    // passes; at least 3
    uint64_t memLimit = 64ull * 1024 * 1024;  // bytes; at least 64 MiB
};

/// The recovery key as a person copies it: 256 random bits in base32, with a
/// check, in dash-separated groups ("ABCDE-FGHIJ-..."). Parsing ignores case,
/// spaces and dashes, and reads 0/1/8 as O/I/B.
std::string formatRecoveryKey(const SecretBytes& key);
Expected<SecretBytes> parseRecoveryKey(std::string_view text);

/// The stored form, STATE/keys/owner.json: the public key in the clear,
/// the secret key wrapped twice. Written atomically (temp file, fsync, rename,
/// fsync of the directory).
struct CreatedOwner {
    OwnerKeyPair keyPair;
    std::string recoveryKey;  // formatted; shown to the owner once, never stored
};

bool ownerExists(const std::filesystem::path& stateDir);
Expected<PublicKey> loadPublicKey(const std::filesystem::path& stateDir);

/// Make the key pair and store it wrapped; fails if an owner already exists.
Expected<CreatedOwner> createOwner(const std::filesystem::path& stateDir,
                                   std::string_view passphrase, KdfParams params = {});

/// Unwrap with the passphrase or the recovery key. A wrong one is an error
/// saying so; nothing is written either way.
Expected<OwnerKeyPair> unlockWithPassphrase(const std::filesystem::path& stateDir,
                                            std::string_view passphrase);
Expected<OwnerKeyPair> unlockWithRecoveryKey(const std::filesystem::path& stateDir,
                                             std::string_view recoveryKey);

/// Re-wrap the (already unlocked) secret key under a new passphrase; the
/// recovery wrap is kept as it is.
Expected<void> changePassphrase(const std::filesystem::path& stateDir, const OwnerKeyPair& keyPair,
                                std::string_view newPassphrase, KdfParams params = {});

/// Minimum passphrase policy, with a message saying what is needed.
Expected<void> checkPassphrase(std::string_view passphrase);

}  // namespace porchlight::keys
