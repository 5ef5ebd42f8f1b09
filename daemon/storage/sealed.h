// Small things sealed to the owner's key: event details and event snapshots.
//
// Both use crypto_box_seal (X25519 + XSalsa20-Poly1305 with an ephemeral
// key): the device can write them and never read them. A snapshot file is
// "PLSNAP1\n" followed by the sealed box of: a u32 (little-endian) length N,
// N bytes of JSON naming the event ({"camera", "event", "start_us"}), and the
// JPEG. The reader checks that JSON against the index, so a snapshot cannot
// be passed off as another event's. See docs/ref/format.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "expected.h"
#include "keys.h"

namespace porchlight::sealed {

std::vector<uint8_t> seal(const std::string& plaintext, const keys::PublicKey& owner);
Expected<std::string> open(const std::vector<uint8_t>& box, const keys::OwnerKeyPair& owner);

struct SnapshotIdentity {
    std::string camera;
    int64_t eventId = 0;
    int64_t startUs = 0;
    bool operator==(const SnapshotIdentity&) const = default;
};

/// Write atomically (temp file, fsync, rename, fsync the directory); the
/// temp file holds only ciphertext.
Expected<void> writeSnapshot(const std::filesystem::path& path, const SnapshotIdentity& identity,
                             const std::vector<uint8_t>& jpeg, const keys::PublicKey& owner);
Expected<std::vector<uint8_t>> readSnapshot(const std::filesystem::path& path,
                                            const SnapshotIdentity& expected,
                                            const keys::OwnerKeyPair& owner);

}  // namespace porchlight::sealed
