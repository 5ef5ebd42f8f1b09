// Encrypted segment files: writing, crash-repair scanning and decryption.
//
// The byte layout is specified in docs/ref/format.md, which a third party
// must be able to implement a decryptor from; every constant here appears
// there too. Change neither without the other (and a new format version).
#include "segment_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <xxhash.h>

namespace porchlight::segment {

namespace {

constexpr std::array<uint8_t, 8> kMagic = {'P', 'L', 'S', 'E', 'G', 'v', '1', '\n'};
constexpr size_t kChecksumBytes = 16;
constexpr size_t kSealedKeyBytes =
    crypto_box_SEALBYTES + crypto_secretstream_xchacha20poly1305_KEYBYTES;                // 80
constexpr size_t kStreamHeaderBytes = crypto_secretstream_xchacha20poly1305_HEADERBYTES;  // 24
constexpr size_t kFixedHeadBytes = 12;  // magic, version, header length
constexpr size_t kMaxCameraBytes = 255;
// magic + version + length + camera length + sequence + startUs + sealed key
// + stream header + checksum, without the camera id itself.
constexpr size_t kHeaderBytesWithoutCamera =
    kFixedHeadBytes + 1 + 8 + 8 + kSealedKeyBytes + kStreamHeaderBytes + kChecksumBytes;
constexpr size_t kMaxHeaderBytes = kHeaderBytesWithoutCamera + kMaxCameraBytes;
constexpr size_t kRecordHeadBytes = 4 + 1 + 8;  // ciphertext length, kind, endUs
constexpr size_t kABytes = crypto_secretstream_xchacha20poly1305_ABYTES;  // 17
// Larger lengths are garbage (a fragment is a second or two of video), and
// refusing them keeps a damaged length field from making us allocate wildly.
constexpr uint32_t kMaxCiphertextBytes = 64u * 1024 * 1024;
constexpr uint8_t kKindFinal = 3;

static_assert(kSealedKeyBytes == 80);
static_assert(kStreamHeaderBytes == 24);
static_assert(kABytes == 17);

void ensureSodium() {
    static const bool ok = sodium_init() >= 0;
    if (!ok)
        throw std::runtime_error("libsodium could not be initialised");
}

// All integers in the format are little-endian, whatever the host.
void putU16(std::vector<uint8_t>& out, uint16_t v) {
    for (int i = 0; i < 2; ++i)
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void putU32(std::vector<uint8_t>& out, uint32_t v) {
    for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void putU64(std::vector<uint8_t>& out, uint64_t v) {
    for (int i = 0; i < 8; ++i)
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint16_t getU16(const uint8_t* p) {
    return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
uint32_t getU32(const uint8_t* p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}
uint64_t getU64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}

using Checksum = std::array<uint8_t, kChecksumBytes>;

static_assert(sizeof(XXH128_canonical_t) == kChecksumBytes);

/// The clear checksum of \a version's headers and records: not security
/// (anyone can recompute it), only a way to tell a complete record from a
/// torn one without the owner's key. Version 1: BLAKE2b with a 16-byte
/// digest. Version 2: XXH3-128 (seed 0, default secret) in its canonical
/// byte order (high 64 bits big-endian, then low 64 bits big-endian), about
/// twenty times cheaper, which matters because it is a full pass over every
/// byte written (docs/ref/format.md, section 5.5).
Checksum checksum(uint16_t version, const uint8_t* data, size_t size) {
    Checksum c{};
    if (version == kFormatV1) {
        crypto_generichash(c.data(), c.size(), data, size, nullptr, 0);
    } else {
        XXH128_canonical_t canonical;
        XXH128_canonicalFromHash(&canonical, XXH3_128bits(data, size));
        std::copy_n(canonical.digest, kChecksumBytes, c.begin());
    }
    return c;
}

bool supportedVersion(uint16_t version) {
    return version == kFormatV1 || version == kFormatV2;
}

/// u8 camera length, camera bytes, u64 sequence, i64 startUs: the identity as
/// it appears both in the header and in every record's associated data.
std::vector<uint8_t> encodeIdentity(const Identity& id) {
    std::vector<uint8_t> out;
    out.reserve(1 + id.camera.size() + 16);
    out.push_back(static_cast<uint8_t>(id.camera.size()));
    for (const char c : id.camera)
        out.push_back(static_cast<uint8_t>(c));
    putU64(out, id.sequence);
    putU64(out, static_cast<uint64_t>(id.startUs));
    return out;
}

/// The associated data shared by all records of a segment; each record adds
/// its kind and endUs (see recordAd).
std::vector<uint8_t> adPrefix(uint16_t version, const Identity& id) {
    std::vector<uint8_t> ad(kMagic.begin(), kMagic.end());
    putU16(ad, version);
    const auto idBytes = encodeIdentity(id);
    ad.insert(ad.end(), idBytes.begin(), idBytes.end());
    return ad;
}

std::vector<uint8_t> recordAd(const std::vector<uint8_t>& prefix, uint8_t kind, int64_t endUs) {
    std::vector<uint8_t> ad = prefix;
    ad.push_back(kind);
    putU64(ad, static_cast<uint64_t>(endUs));
    return ad;
}

std::string describe(const Identity& id) {
    return "camera \"" + id.camera + "\" sequence " + std::to_string(id.sequence) + " start " +
           std::to_string(id.startUs) + " µs";
}

std::string errnoText(int err) {
    return std::strerror(err);
}

bool isDiskFullErrno(int err) {
    return err == ENOSPC || err == EDQUOT;
}

Error ioError(const std::string& what, const std::filesystem::path& path, int err) {
    // "disk full:" first, so the recorder can tell running out of space (make
    // room, start a new segment) from a failing disk (see isDiskFullError).
    const std::string text = what + " " + path.string() + ": " + errnoText(err);
    return makeError(isDiskFullErrno(err) ? "disk full: " + text : text);
}

/// Small RAII holder for a file descriptor.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    /// Close and report the error (close can be the first to see EIO on NFS).
    int close() {
        const int rc = fd_ >= 0 ? ::close(fd_) : 0;
        fd_ = -1;
        return rc;
    }
    void reset() {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

/// pread until \a size bytes or end of file; returns the count or -errno.
ssize_t readAt(int fd, uint8_t* buf, size_t size, uint64_t offset) {
    size_t done = 0;
    while (done < size) {
        const ssize_t n = ::pread(fd, buf + done, size - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        done += static_cast<size_t>(n);
    }
    return static_cast<ssize_t>(done);
}

/// write() until done; returns 0 or an errno. A short write followed by an
/// error leaves the written part in the file: a torn record that scan() finds.
int writeAll(int fd, const uint8_t* data, size_t size) {
    size_t done = 0;
    while (done < size) {
        const ssize_t n = ::write(fd, data + done, size - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            return EIO;
        done += static_cast<size_t>(n);
    }
    return 0;
}

Expected<uint64_t> fileSize(int fd, const std::filesystem::path& path) {
    struct stat st {};
    if (::fstat(fd, &st) != 0)
        return ioError("cannot stat", path, errno);
    return static_cast<uint64_t>(st.st_size);
}

Expected<void> syncDir(const std::filesystem::path& dir) {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid())
        return ioError("cannot open", dir, errno);
    if (::fsync(fd.get()) != 0)
        return ioError("cannot sync", dir, errno);
    return {};
}

struct Header {
    uint16_t version = 0;
    Identity identity;
    uint64_t bytes = 0;
    std::array<uint8_t, kSealedKeyBytes> sealedKey{};
    std::array<uint8_t, kStreamHeaderBytes> streamHeader{};
};

std::vector<uint8_t> encodeHeader(uint16_t version, const Identity& id, const uint8_t* sealedKey,
                                  const uint8_t* streamHeader) {
    std::vector<uint8_t> out(kMagic.begin(), kMagic.end());
    putU16(out, version);
    putU16(out, static_cast<uint16_t>(kHeaderBytesWithoutCamera + id.camera.size()));
    const auto idBytes = encodeIdentity(id);
    out.insert(out.end(), idBytes.begin(), idBytes.end());
    out.insert(out.end(), sealedKey, sealedKey + kSealedKeyBytes);
    out.insert(out.end(), streamHeader, streamHeader + kStreamHeaderBytes);
    const Checksum c = checksum(version, out.data(), out.size());
    out.insert(out.end(), c.begin(), c.end());
    return out;
}

Expected<Header> readHeader(int fd, const std::filesystem::path& path, uint64_t size) {
    std::array<uint8_t, kMaxHeaderBytes> buf{};
    const ssize_t n = readAt(fd, buf.data(), buf.size(), 0);
    if (n < 0)
        return ioError("cannot read", path, static_cast<int>(-n));
    const size_t got = static_cast<size_t>(n);
    const std::string name = path.string();
    const size_t magicBytes = std::min(got, kMagic.size());
    if (!std::equal(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(magicBytes), kMagic.begin()))
        return makeError(name + " is not a Porchlight segment");
    if (got < kFixedHeadBytes + 1)
        return makeError(name + ": damaged header: the file is only " + std::to_string(size) +
                         " bytes long (cut short while it was being created?)");
    const uint16_t version = getU16(&buf[8]);
    if (!supportedVersion(version))
        return makeError(name + ": segment format version " + std::to_string(version) +
                         " is not supported (this version of Porchlight reads versions " +
                         std::to_string(kFormatV1) + " to " + std::to_string(kFormatV2) + ")");
    const uint16_t headerBytes = getU16(&buf[10]);
    const uint8_t cameraBytes = buf[12];
    if (cameraBytes == 0 || headerBytes != kHeaderBytesWithoutCamera + cameraBytes)
        return makeError(name + ": damaged header: inconsistent lengths");
    if (got < headerBytes)
        return makeError(name + ": damaged header: the file is only " + std::to_string(size) +
                         " bytes long (cut short while it was being created?)");
    const size_t sumAt = headerBytes - kChecksumBytes;
    if (checksum(version, buf.data(), sumAt) != *reinterpret_cast<const Checksum*>(&buf[sumAt]))
        return makeError(name + ": damaged header: checksum mismatch");

    Header h;
    h.version = version;
    h.bytes = headerBytes;
    const uint8_t* p = &buf[13];
    h.identity.camera.assign(reinterpret_cast<const char*>(p), cameraBytes);
    p += cameraBytes;
    h.identity.sequence = getU64(p);
    p += 8;
    h.identity.startUs = static_cast<int64_t>(getU64(p));
    p += 8;
    std::copy_n(p, kSealedKeyBytes, h.sealedKey.begin());
    p += kSealedKeyBytes;
    std::copy_n(p, kStreamHeaderBytes, h.streamHeader.begin());
    return h;
}

using StreamState = crypto_secretstream_xchacha20poly1305_state;

/// The secretstream state holds the derived stream key, so it lives in
/// guarded memory like the key itself.
keys::SecretBytes makeStreamState() {
    return keys::SecretBytes(sizeof(StreamState));
}

StreamState* streamState(keys::SecretBytes& mem) {
    return reinterpret_cast<StreamState*>(mem.data());
}

/// The clear part of a record, as read from disk.
struct RecordHead {
    uint32_t ciphertextBytes = 0;
    uint8_t kind = 0;
    int64_t endUs = 0;
    uint64_t total() const { return kRecordHeadBytes + ciphertextBytes + kChecksumBytes; }
};

RecordHead parseRecordHead(const uint8_t* p) {
    RecordHead h;
    h.ciphertextBytes = getU32(p);
    h.kind = p[4];
    h.endUs = static_cast<int64_t>(getU64(p + 5));
    return h;
}

bool validLength(uint32_t ciphertextBytes) {
    return ciphertextBytes >= kABytes && ciphertextBytes <= kMaxCiphertextBytes;
}

bool validKind(uint8_t kind) {
    return kind >= static_cast<uint8_t>(ChunkKind::Init) && kind <= kKindFinal;
}

}  // namespace

std::array<uint8_t, 16> clearChecksum(uint16_t version, std::span<const uint8_t> data) {
    return checksum(version, data.data(), data.size());
}

bool isDiskFullError(const Error& error) {
    return error.message.starts_with("disk full:");
}

// ---------------------------------------------------------------- Sealer

struct Sealer::State {
    uint16_t version = kCurrentFormatVersion;
    std::vector<uint8_t> adPrefix;
    keys::SecretBytes stream;  // crypto_secretstream state
    std::vector<uint8_t> header;
    bool finished = false;

    Expected<void> sealRecord(std::vector<uint8_t>& out, uint8_t kind,
                              std::span<const uint8_t> plaintext, int64_t endUs, uint8_t tag);
};

Sealer::Sealer() : s_(std::make_unique<State>()) {}
Sealer::Sealer(Sealer&&) noexcept = default;
Sealer& Sealer::operator=(Sealer&&) noexcept = default;
Sealer::~Sealer() = default;

Expected<Sealer> Sealer::create(const Identity& identity, const keys::PublicKey& owner,
                                uint16_t version) {
    ensureSodium();
    if (identity.camera.empty() || identity.camera.size() > kMaxCameraBytes)
        return makeError("camera id \"" + identity.camera + "\" must be 1 to " +
                         std::to_string(kMaxCameraBytes) + " bytes long");
    if (!supportedVersion(version))
        return makeError("cannot write segment format version " + std::to_string(version));

    Sealer sealer;
    State& s = *sealer.s_;
    s.version = version;
    s.adPrefix = adPrefix(version, identity);
    s.stream = makeStreamState();

    std::array<uint8_t, kSealedKeyBytes> sealedKey{};
    std::array<uint8_t, kStreamHeaderBytes> streamHeader{};
    {
        // The segment key is needed only to seal it and to start the stream;
        // it is wiped as this scope ends.
        keys::SecretBytes key(crypto_secretstream_xchacha20poly1305_KEYBYTES);
        crypto_secretstream_xchacha20poly1305_keygen(key.data());
        if (crypto_box_seal(sealedKey.data(), key.data(), key.size(), owner.data()) != 0)
            return makeError("cannot seal the segment key: the owner public key is invalid");
        crypto_secretstream_xchacha20poly1305_init_push(streamState(s.stream), streamHeader.data(),
                                                        key.data());
    }
    s.header = encodeHeader(version, identity, sealedKey.data(), streamHeader.data());
    return sealer;
}

const std::vector<uint8_t>& Sealer::header() const {
    return s_->header;
}

uint16_t Sealer::version() const {
    return s_->version;
}

Expected<void> Sealer::State::sealRecord(std::vector<uint8_t>& out, uint8_t kind,
                                         std::span<const uint8_t> plaintext, int64_t endUs,
                                         uint8_t tag) {
    if (finished)
        return makeError("the segment's final record was already sealed");
    if (plaintext.size() > kMaxCiphertextBytes - kABytes)
        return makeError("chunk of " + std::to_string(plaintext.size()) +
                         " bytes is larger than a segment record may be (" +
                         std::to_string(kMaxCiphertextBytes - kABytes) + ")");

    const uint32_t ciphertextBytes = static_cast<uint32_t>(plaintext.size() + kABytes);
    out.clear();
    putU32(out, ciphertextBytes);
    out.push_back(kind);
    putU64(out, static_cast<uint64_t>(endUs));
    out.resize(kRecordHeadBytes + ciphertextBytes + kChecksumBytes);
    const auto ad = recordAd(adPrefix, kind, endUs);
    crypto_secretstream_xchacha20poly1305_push(streamState(stream), &out[kRecordHeadBytes], nullptr,
                                               plaintext.data(), plaintext.size(), ad.data(),
                                               ad.size(), tag);
    const size_t summed = kRecordHeadBytes + ciphertextBytes;
    const Checksum c = checksum(version, out.data(), summed);
    std::copy(c.begin(), c.end(), out.begin() + static_cast<ptrdiff_t>(summed));
    if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
        finished = true;
        stream = keys::SecretBytes();  // wipe the stream key now, not at destruction
    }
    return {};
}

Expected<void> Sealer::seal(std::vector<uint8_t>& out, ChunkKind kind,
                            std::span<const uint8_t> plaintext, int64_t endUs) {
    const auto k = static_cast<uint8_t>(kind);
    assert(k == static_cast<uint8_t>(ChunkKind::Init) ||
           k == static_cast<uint8_t>(ChunkKind::Fragment));
    return s_->sealRecord(out, k, plaintext, endUs,
                          crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
}

Expected<void> Sealer::sealFinal(std::vector<uint8_t>& out, int64_t endUs) {
    return s_->sealRecord(out, kKindFinal, {}, endUs,
                          crypto_secretstream_xchacha20poly1305_TAG_FINAL);
}

// ---------------------------------------------------------------- Writer

struct Writer::State {
    std::filesystem::path path;
    Fd fd;
    uint64_t size = 0;
    std::optional<Sealer> sealer;  // for append/finish; absent when records come sealed
    std::vector<uint8_t> buffer;
    bool reserved = false;  // space preallocated beyond the end, to give back
    bool failed = false;
    bool finished = false;

    Expected<void> usable() const;
    Expected<void> write(std::span<const uint8_t> record, bool sync);
    Expected<void> close();
};

Writer::Writer() : s_(std::make_unique<State>()) {}
Writer::Writer(Writer&&) noexcept = default;
Writer& Writer::operator=(Writer&&) noexcept = default;
Writer::~Writer() = default;

Expected<Writer> Writer::create(const std::filesystem::path& path, const Identity& identity,
                                const keys::PublicKey& owner, uint16_t version) {
    auto sealer = Sealer::create(identity, owner, version);
    if (!sealer)
        return sealer.error();
    auto w = createSealed(path, sealer->header());
    if (!w)
        return w.error();
    w->s_->sealer = std::move(*sealer);
    return w;
}

Expected<Writer> Writer::createSealed(const std::filesystem::path& path,
                                      std::span<const uint8_t> header, uint64_t reserveBytes) {
    Writer w;
    State& s = *w.s_;
    s.path = path;
    s.fd = Fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!s.fd.valid())
        return ioError("cannot create", path, errno);
    // The header and the file's directory entry are made durable now, so that
    // once the index records this segment the file is known to exist.
    int err = writeAll(s.fd.get(), header.data(), header.size());
    // Only an optimisation: a filesystem without it (EOPNOTSUPP), or too
    // little space for all of it (ENOSPC: the writes will say so if it
    // matters), changes nothing else.
    if (err == 0 && reserveBytes > header.size() &&
        ::fallocate(s.fd.get(), FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(reserveBytes)) == 0)
        s.reserved = true;
    if (err == 0 && ::fsync(s.fd.get()) != 0)
        err = errno;
    if (err != 0) {
        // Nothing but a header: removing it loses nothing.
        s.fd.reset();
        ::unlink(path.c_str());
        return ioError("cannot write", path, err);
    }
    if (auto ok = syncDir(path.has_parent_path() ? path.parent_path() : "."); !ok)
        return ok.error();
    s.size = header.size();
    return w;
}

Expected<void> Writer::State::usable() const {
    if (failed)
        return makeError(path.string() +
                         ": an earlier write failed, so this segment cannot be continued; "
                         "start a new one");
    if (finished)
        return makeError(path.string() + " is already finished");
    return {};
}

Expected<void> Writer::State::write(std::span<const uint8_t> record, bool sync) {
    if (auto ok = usable(); !ok)
        return ok;
    // The record was sealed, so the stream has moved past it: if it does not
    // reach the disk the segment can never be continued (pushing another
    // record with the same state would reuse its nonce, and one without it
    // would not decrypt), so any failure ends the writer.
    int err = writeAll(fd.get(), record.data(), record.size());
    if (err == 0 && sync && ::fdatasync(fd.get()) != 0)
        err = errno;
    if (err != 0) {
        failed = true;
        return ioError("cannot write", path, err);
    }
    size += record.size();
    return {};
}

Expected<void> Writer::State::close() {
    finished = true;
    // Truncating to the size it has frees the preallocated blocks after it.
    if (reserved && ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
        const int err = errno;
        fd.reset();
        return ioError("cannot truncate", path, err);
    }
    if (::fsync(fd.get()) != 0) {
        const int err = errno;
        fd.reset();
        return ioError("cannot sync", path, err);
    }
    if (fd.close() != 0)
        return ioError("cannot close", path, errno);
    return {};
}

Expected<void> Writer::append(ChunkKind kind, std::span<const uint8_t> plaintext, int64_t endUs,
                              bool sync) {
    State& s = *s_;
    if (auto ok = s.usable(); !ok)
        return ok;
    assert(s.sealer);
    if (auto ok = s.sealer->seal(s.buffer, kind, plaintext, endUs); !ok)
        return ok;
    auto ok = s.write(s.buffer, sync);
    // Fragments are large; keep the buffer's capacity for the next one but
    // not across a giant outlier.
    if (s.buffer.capacity() > 4 * 1024 * 1024)
        std::vector<uint8_t>().swap(s.buffer);
    return ok;
}

Expected<void> Writer::appendSealed(std::span<const uint8_t> record, bool sync) {
    return s_->write(record, sync);
}

Expected<void> Writer::finish(int64_t endUs) {
    State& s = *s_;
    if (auto ok = s.usable(); !ok)
        return ok;
    assert(s.sealer);
    if (auto ok = s.sealer->sealFinal(s.buffer, endUs); !ok)
        return ok;
    s.sealer.reset();
    return finishSealed(s.buffer);
}

Expected<void> Writer::finishSealed(std::span<const uint8_t> finalRecord) {
    State& s = *s_;
    if (auto ok = s.write(finalRecord, false); !ok)
        return ok;
    return s.close();
}

uint64_t Writer::size() const {
    return s_ ? s_->size : 0;
}

// ---------------------------------------------------------------- scan

Expected<Scan> scan(const std::filesystem::path& path) {
    ensureSodium();
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid())
        return ioError("cannot open", path, errno);
    auto size = fileSize(fd.get(), path);
    if (!size)
        return size.error();
    auto header = readHeader(fd.get(), path, *size);
    if (!header)
        return header.error();

    Scan result;
    result.identity = header->identity;
    result.version = header->version;
    result.headerBytes = header->bytes;
    result.validBytes = header->bytes;
    result.fileBytes = *size;
    result.endUs = header->identity.startUs;

    std::vector<uint8_t> buf;
    uint64_t offset = header->bytes;
    const auto at = [&] { return " at offset " + std::to_string(offset); };
    while (offset < *size) {
        if (result.finished) {
            result.problem = "unexpected data after the final record" + at();
            break;
        }
        const uint64_t left = *size - offset;
        if (left < kRecordHeadBytes) {
            result.problem = "torn record" + at();
            break;
        }
        std::array<uint8_t, kRecordHeadBytes> headBytes{};
        const ssize_t n = readAt(fd.get(), headBytes.data(), headBytes.size(), offset);
        if (n < 0)
            return ioError("cannot read", path, static_cast<int>(-n));
        const RecordHead head = parseRecordHead(headBytes.data());
        if (!validLength(head.ciphertextBytes)) {
            result.problem = "invalid record length " + std::to_string(head.ciphertextBytes) + at();
            break;
        }
        if (left < head.total()) {
            result.problem = "torn record" + at();
            break;
        }
        buf.resize(head.total());
        const ssize_t m = readAt(fd.get(), buf.data(), buf.size(), offset);
        if (m < 0)
            return ioError("cannot read", path, static_cast<int>(-m));
        if (static_cast<size_t>(m) < buf.size()) {  // shrank while we read
            result.problem = "torn record" + at();
            break;
        }
        const size_t summed = buf.size() - kChecksumBytes;
        if (checksum(header->version, buf.data(), summed) !=
            *reinterpret_cast<const Checksum*>(&buf[summed])) {
            result.problem = "checksum mismatch" + at();
            break;
        }
        if (!validKind(head.kind)) {
            result.problem = "unknown record kind " + std::to_string(head.kind) + at();
            break;
        }
        if (head.kind == kKindFinal && head.ciphertextBytes != kABytes) {
            result.problem = "invalid final record" + at();
            break;
        }
        offset += head.total();
        result.validBytes = offset;
        result.records++;
        result.endUs = head.endUs;
        result.finished = head.kind == kKindFinal;
    }
    return result;
}

Expected<void> truncateTo(const std::filesystem::path& path, uint64_t validBytes) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid())
        return ioError("cannot open", path, errno);
    auto size = fileSize(fd.get(), path);
    if (!size)
        return size.error();
    if (validBytes > *size)
        return makeError("cannot truncate " + path.string() + " to " + std::to_string(validBytes) +
                         " bytes: it has only " + std::to_string(*size));
    if (::ftruncate(fd.get(), static_cast<off_t>(validBytes)) != 0)
        return ioError("cannot truncate", path, errno);
    if (::fsync(fd.get()) != 0)
        return ioError("cannot sync", path, errno);
    return {};
}

// ---------------------------------------------------------------- Reader

struct Reader::State {
    std::filesystem::path path;
    Fd fd;
    uint16_t version = 0;
    Identity identity;
    std::vector<uint8_t> adPrefix;
    keys::SecretBytes stream;  // crypto_secretstream state
    uint64_t offset = 0;
    bool finished = false;
    bool verifyChecksums = true;
    std::optional<Error> error;  // sticky: the stream cannot continue past it

    Error fail(std::string why) {
        error = makeError(path.string() + ": " + std::move(why));
        return *error;
    }
};

Reader::Reader() : s_(std::make_unique<State>()) {}
Reader::Reader(Reader&&) noexcept = default;
Reader& Reader::operator=(Reader&&) noexcept = default;
Reader::~Reader() = default;

Expected<Reader> Reader::open(const std::filesystem::path& path, const keys::OwnerKeyPair& owner,
                              const std::optional<Identity>& expected) {
    ensureSodium();
    Reader r;
    State& s = *r.s_;
    s.path = path;
    s.fd = Fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!s.fd.valid())
        return ioError("cannot open", path, errno);
    auto size = fileSize(s.fd.get(), path);
    if (!size)
        return size.error();
    auto header = readHeader(s.fd.get(), path, *size);
    if (!header)
        return header.error();
    if (owner.secretKey.size() != crypto_box_SECRETKEYBYTES)
        return makeError("no owner secret key to open " + path.string());

    keys::SecretBytes key(crypto_secretstream_xchacha20poly1305_KEYBYTES);
    if (crypto_box_seal_open(key.data(), header->sealedKey.data(), header->sealedKey.size(),
                             owner.publicKey.data(), owner.secretKey.data()) != 0)
        return makeError(path.string() + ": this segment was not sealed to this owner key");
    if (expected && *expected != header->identity)
        return makeError(path.string() + ": file claims " + describe(header->identity) +
                         ", index says " + describe(*expected));

    s.version = header->version;
    s.identity = header->identity;
    s.adPrefix = adPrefix(header->version, header->identity);
    s.stream = makeStreamState();
    if (crypto_secretstream_xchacha20poly1305_init_pull(
            streamState(s.stream), header->streamHeader.data(), key.data()) != 0)
        return makeError(path.string() + ": damaged header: invalid stream header");
    s.offset = header->bytes;
    return r;
}

const Identity& Reader::identity() const {
    return s_->identity;
}

uint16_t Reader::version() const {
    return s_->version;
}

void Reader::setVerifyChecksums(bool verify) {
    s_->verifyChecksums = verify;
}

bool Reader::finished() const {
    return s_->finished;
}

Expected<std::optional<Chunk>> Reader::next() {
    State& s = *s_;
    if (s.error)
        return *s.error;
    auto size = fileSize(s.fd.get(), s.path);
    if (!size)
        return size.error();
    const auto at = [&] { return " at offset " + std::to_string(s.offset); };
    if (s.finished) {
        if (*size > s.offset)
            return s.fail("unexpected data after the final record" + at());
        return std::optional<Chunk>();
    }
    // A partial record at the end is where a recording was cut off (power
    // cut, or still being written): the end of what can be read, not an error.
    const uint64_t left = *size - std::min(*size, s.offset);
    if (left < kRecordHeadBytes)
        return std::optional<Chunk>();
    std::array<uint8_t, kRecordHeadBytes> headBytes{};
    const ssize_t n = readAt(s.fd.get(), headBytes.data(), headBytes.size(), s.offset);
    if (n < 0)
        return ioError("cannot read", s.path, static_cast<int>(-n));
    if (static_cast<size_t>(n) < headBytes.size())
        return std::optional<Chunk>();
    const RecordHead head = parseRecordHead(headBytes.data());
    if (!validLength(head.ciphertextBytes))
        return s.fail("damaged at offset " + std::to_string(s.offset) + " (invalid record length)");
    if (left < head.total())
        return std::optional<Chunk>();

    std::vector<uint8_t> record(head.total());
    const ssize_t m = readAt(s.fd.get(), record.data(), record.size(), s.offset);
    if (m < 0)
        return ioError("cannot read", s.path, static_cast<int>(-m));
    if (static_cast<size_t>(m) < record.size())
        return std::optional<Chunk>();
    const size_t summed = record.size() - kChecksumBytes;
    if (s.verifyChecksums && checksum(s.version, record.data(), summed) !=
                                 *reinterpret_cast<const Checksum*>(&record[summed]))
        return s.fail("damaged at offset " + std::to_string(s.offset) + " (checksum mismatch)");

    Chunk chunk;
    chunk.kind = static_cast<ChunkKind>(head.kind);
    chunk.endUs = head.endUs;
    chunk.offset = s.offset;
    chunk.plaintext.resize(head.ciphertextBytes - kABytes);
    const auto ad = recordAd(s.adPrefix, head.kind, head.endUs);
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(streamState(s.stream), chunk.plaintext.data(),
                                                   nullptr, &tag, &record[kRecordHeadBytes],
                                                   head.ciphertextBytes, ad.data(), ad.size()) != 0)
        return s.fail("authentication failed" + at() +
                      ": the segment was altered, or records were moved between segments");
    const bool final = head.kind == kKindFinal;
    if (final ? (tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL || !chunk.plaintext.empty())
              : (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE || !validKind(head.kind)))
        return s.fail("invalid record" + at() + " (kind " + std::to_string(head.kind) +
                      " with stream tag " + std::to_string(tag) + ")");
    s.offset += head.total();
    if (final) {
        s.finished = true;
        s.stream = keys::SecretBytes();
        if (*size > s.offset)
            return s.fail("unexpected data after the final record" + at());
        return std::optional<Chunk>();
    }
    return std::optional<Chunk>(std::move(chunk));
}

}  // namespace porchlight::segment
