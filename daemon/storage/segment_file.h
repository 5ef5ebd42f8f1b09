// Encrypted segment files: the on-disk format of docs/ref/format.md.
//
// A segment is a clear header (identity, the segment key sealed to the
// owner's public key, the secretstream header) followed by records, one per
// chunk: the fMP4 init segment first, then one record per fragment. Each
// record carries a clear checksum so the device (which cannot decrypt) can
// still tell a complete record from a torn one after a crash; the owner's key
// then authenticates every byte.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "expected.h"
#include "keys.h"

namespace porchlight::segment {

/// What identifies a segment; bound into every chunk as associated data.
struct Identity {
    std::string camera;
    uint64_t sequence = 0;
    int64_t startUs = 0;  // wall clock, µs since the epoch
    bool operator==(const Identity&) const = default;
};

enum class ChunkKind : uint8_t { Init = 1, Fragment = 2 };

/// Segment format versions (docs/ref/format.md). They differ only in the
/// clear checksum: version 1 has BLAKE2b-16, version 2 XXH3-128, which costs
/// a small fraction of the encryption instead of more than it. Both are read
/// (reader, crash repair, vault verify and export); new segments are version 2.
inline constexpr uint16_t kFormatV1 = 1;
inline constexpr uint16_t kFormatV2 = 2;
inline constexpr uint16_t kCurrentFormatVersion = kFormatV2;

/// The clear checksum of format \a version that ends the header and every
/// record (docs/ref/format.md, section 5.5): BLAKE2b-16 in version 1, XXH3-128
/// in its canonical (big-endian) byte order in version 2. Not security.
std::array<uint8_t, 16> clearChecksum(uint16_t version, std::span<const uint8_t> data);

/// Whether \a error (from Writer::create, append or finish) means the disk or
/// quota is full (ENOSPC, EDQUOT): make room and start a new segment, rather
/// than treat the disk as failing. Such messages start with "disk full:".
bool isDiskFullError(const Error& error);

/// The CPU half of writing a segment: makes the header (a fresh segment key
/// sealed to the owner) and turns chunks into complete records, encrypted and
/// checksummed, in order. No I/O, so it can run on another thread than the
/// Writer that puts its records on disk (the recorder pipelines the two).
/// Every record sealed must be written, in order: the stream has moved past
/// it, and a segment missing one cannot be decrypted beyond it.
class Sealer {
public:
    /// \a version other than the current one is for tests of the old format.
    static Expected<Sealer> create(const Identity& identity, const keys::PublicKey& owner,
                                   uint16_t version = kCurrentFormatVersion);
    Sealer(Sealer&&) noexcept;
    Sealer& operator=(Sealer&&) noexcept;
    ~Sealer();

    /// The segment header, to go first in the file (Writer::createSealed).
    const std::vector<uint8_t>& header() const;
    uint16_t version() const;
    /// The record for one chunk, into \a out (replacing what was there).
    Expected<void> seal(std::vector<uint8_t>& out, ChunkKind kind,
                        std::span<const uint8_t> plaintext, int64_t endUs);
    /// The final record; the stream key is wiped and nothing more can be sealed.
    Expected<void> sealFinal(std::vector<uint8_t>& out, int64_t endUs);

private:
    Sealer();
    struct State;
    std::unique_ptr<State> s_;
};

/// Writes one segment. Not thread-safe; the recorder's writer thread owns it.
class Writer {
public:
    /// Create \a path (must not exist) and write the header. The per-segment
    /// key exists only inside this object (its Sealer) and is wiped with it.
    /// \a version other than the current one is for tests of the old format.
    static Expected<Writer> create(const std::filesystem::path& path, const Identity& identity,
                                   const keys::PublicKey& owner,
                                   uint16_t version = kCurrentFormatVersion);
    /// Create \a path with \a header from a Sealer kept elsewhere; records then
    /// come sealed (appendSealed, finishSealed), and append/finish must not be used.
    /// \a reserveBytes, when not 0, preallocates that much disk space beyond
    /// the end of the file (the size stays that of the data, so a crash scan
    /// sees nothing different): appends then only fill allocated blocks, and
    /// each fdatasync commits less filesystem metadata. What is not used is
    /// given back when the segment is finished (or repaired after a crash).
    static Expected<Writer> createSealed(const std::filesystem::path& path,
                                         std::span<const uint8_t> header,
                                         uint64_t reserveBytes = 0);
    Writer(Writer&&) noexcept;
    Writer& operator=(Writer&&) noexcept;
    ~Writer();

    /// Encrypt and write one chunk; \a endUs is the wall-clock end of the
    /// media in it (clear in the record, for the index and for repair).
    /// With \a sync the data is fdatasync'd before returning.
    Expected<void> append(ChunkKind kind, std::span<const uint8_t> plaintext, int64_t endUs,
                          bool sync);
    /// Write the final record (marks a cleanly closed segment), fsync, close.
    Expected<void> finish(int64_t endUs);
    /// Write one record made by Sealer::seal; with \a sync, fdatasync it.
    /// Any failure ends the writer (the stream cannot skip a record).
    Expected<void> appendSealed(std::span<const uint8_t> record, bool sync);
    /// Write the record made by Sealer::sealFinal, fsync, close.
    Expected<void> finishSealed(std::span<const uint8_t> finalRecord);
    /// Bytes on disk so far.
    uint64_t size() const;

private:
    Writer();
    struct State;
    std::unique_ptr<State> s_;
};

/// What the device can learn without any key: header and record framing.
struct Scan {
    Identity identity;
    uint16_t version = 0;
    uint64_t headerBytes = 0;
    uint64_t validBytes = 0;  // header + every complete, checksummed record
    uint64_t fileBytes = 0;   // may be larger: a torn record at the end
    uint32_t records = 0;     // complete records (init + fragments + final)
    bool finished = false;    // the final record is present
    int64_t endUs = 0;        // end of the last complete record (startUs if none)
    std::string problem;      // why validBytes < fileBytes, with the offset
};

/// Read header and framing. An unreadable header is an error (not ours, or
/// destroyed); a torn tail is not (it is reported in Scan::problem).
Expected<Scan> scan(const std::filesystem::path& path);

/// Cut a torn tail off (to Scan::validBytes) and fsync: the crash repair.
/// Also gives back space preallocated beyond the end (Writer::createSealed).
Expected<void> truncateTo(const std::filesystem::path& path, uint64_t validBytes);

/// A decrypted chunk.
struct Chunk {
    ChunkKind kind;
    int64_t endUs;
    uint64_t offset;  // of its record in the file
    std::vector<uint8_t> plaintext;
};

/// Decrypts and authenticates a segment with the owner's secret key.
class Reader {
public:
    /// \a expected, when given, must match the header (the index's identity
    /// for this file): a swapped or renamed file is then an error.
    static Expected<Reader> open(const std::filesystem::path& path, const keys::OwnerKeyPair& owner,
                                 const std::optional<Identity>& expected = std::nullopt);
    Reader(Reader&&) noexcept;
    Reader& operator=(Reader&&) noexcept;
    ~Reader();

    const Identity& identity() const;
    /// The segment's format version (kFormatV1 or kFormatV2).
    uint16_t version() const;
    /// The clear checksums are for the keyless device; with the key, the AEAD
    /// already authenticates everything they cover (the length through the
    /// framing). Readers that only want the video (export, playback) may skip
    /// them and save about half the work; verify keeps them, to report a
    /// damaged checksum too.
    void setVerifyChecksums(bool verify);
    /// The next chunk; nullopt at the end (after the final record, or at a
    /// cleanly truncated end). Any failed authentication is an error naming
    /// the file offset; the chunks before it were good.
    Expected<std::optional<Chunk>> next();
    /// Whether the final record was seen (the segment was closed cleanly).
    bool finished() const;

private:
    Reader();
    struct State;
    std::unique_ptr<State> s_;
};

}  // namespace porchlight::segment
