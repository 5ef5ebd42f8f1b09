// Event details and snapshots sealed to the owner: see sealed.h.
#include "sealed.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace porchlight::sealed {

namespace {
constexpr char kMagic[8] = {'P', 'L', 'S', 'N', 'A', 'P', '1', '\n'};

Expected<void> writeAll(int fd, const uint8_t* p, size_t n, const std::string& what) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return makeError((errno == ENOSPC ? "disk full: cannot write " : "cannot write ") +
                             what + ": " + std::strerror(errno));
        p += w;
        n -= static_cast<size_t>(w);
    }
    return {};
}
}  // namespace

std::vector<uint8_t> seal(const std::string& plaintext, const keys::PublicKey& owner) {
    std::vector<uint8_t> box(plaintext.size() + crypto_box_SEALBYTES);
    crypto_box_seal(box.data(), reinterpret_cast<const uint8_t*>(plaintext.data()),
                    plaintext.size(), owner.data());
    return box;
}

Expected<std::string> open(const std::vector<uint8_t>& box, const keys::OwnerKeyPair& owner) {
    if (box.size() < crypto_box_SEALBYTES)
        return makeError("sealed data is too short");
    std::string plain(box.size() - crypto_box_SEALBYTES, '\0');
    if (crypto_box_seal_open(reinterpret_cast<uint8_t*>(plain.data()), box.data(), box.size(),
                             owner.publicKey.data(), owner.secretKey.data()) != 0)
        return makeError("sealed data does not open with this owner key (damaged, or not ours)");
    return plain;
}

Expected<void> writeSnapshot(const std::filesystem::path& path, const SnapshotIdentity& identity,
                             const std::vector<uint8_t>& jpeg, const keys::PublicKey& owner) {
    const std::string header = nlohmann::json{
        {"camera", identity.camera},
        {"event", identity.eventId},
        {"start_us",
         identity.startUs}}.dump();
    std::string plain(4, '\0');
    const uint32_t n = static_cast<uint32_t>(header.size());
    for (int i = 0; i < 4; ++i)
        plain[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
    plain += header;
    plain.append(reinterpret_cast<const char*>(jpeg.data()), jpeg.size());
    const auto box = seal(plain, owner);
    sodium_memzero(plain.data(), plain.size());

    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    const std::filesystem::path tmp = path.string() + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return makeError("cannot create " + tmp.string() + ": " + std::strerror(errno));
    auto w = writeAll(fd, reinterpret_cast<const uint8_t*>(kMagic), sizeof kMagic, tmp.string());
    if (w)
        w = writeAll(fd, box.data(), box.size(), tmp.string());
    if (w && ::fsync(fd) != 0)
        w = makeError("cannot sync " + tmp.string() + ": " + std::strerror(errno));
    ::close(fd);
    if (!w) {
        ::unlink(tmp.c_str());
        return w;
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        ::unlink(tmp.c_str());
        return makeError("cannot rename " + tmp.string() + ": " + ec.message());
    }
    int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
    return {};
}

Expected<std::vector<uint8_t>> readSnapshot(const std::filesystem::path& path,
                                            const SnapshotIdentity& expected,
                                            const keys::OwnerKeyPair& owner) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return makeError("cannot read " + path.string());
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string data = ss.str();
    if (data.size() < sizeof kMagic || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0)
        return makeError(path.string() + ": not a Porchlight snapshot");
    auto plain = open(std::vector<uint8_t>(data.begin() + sizeof kMagic, data.end()), owner);
    if (!plain)
        return makeError(path.string() + ": " + plain.error().message);
    if (plain->size() < 4)
        return makeError(path.string() + ": damaged snapshot");
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i)
        n |= static_cast<uint32_t>(static_cast<uint8_t>((*plain)[static_cast<size_t>(i)]))
             << (8 * i);
    if (n > plain->size() - 4)
        return makeError(path.string() + ": damaged snapshot");
    auto header = nlohmann::json::parse(plain->substr(4, n), nullptr, false);
    if (header.is_discarded() || !header.is_object() || !header.contains("camera") ||
        !header.contains("event") || !header.contains("start_us"))
        return makeError(path.string() + ": damaged snapshot header");
    SnapshotIdentity got{header["camera"].get<std::string>(), header["event"].get<int64_t>(),
                         header["start_us"].get<int64_t>()};
    if (!(got == expected))
        return makeError(path.string() + ": the snapshot belongs to another event (camera " +
                         got.camera + ", event " + std::to_string(got.eventId) + ")");
    return std::vector<uint8_t>(plain->begin() + 4 + n, plain->end());
}

}  // namespace porchlight::sealed
