// The owner's key pair and its two wraps, stored in STATE/keys/owner.json.
//
// The format is specified in docs/ref/format.md ("The owner key file"); an
// offline decryptor must be able to follow that document alone, so every
// constant used here is spelled out there too. Keep the two in step.
#include "keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <limits>
#include <new>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace porchlight::keys {

namespace {

constexpr int kFormatVersion = 1;
constexpr char kFormatName[] = "porchlight-owner-key";

// Associated data prefixes: each wrap is bound to its purpose and to the
// public key, so a wrap cannot be moved to another key pair or passed off as
// the other kind of wrap.
constexpr std::string_view kPassphraseContext = "porchlight owner key v1 passphrase wrap";
constexpr std::string_view kRecoveryContext = "porchlight owner key v1 recovery wrap";
// Domain separation for deriving the recovery wrap key from the recovery key.
constexpr std::string_view kRecoveryKdfContext = "porchlight recovery key v1";

constexpr uint64_t kMinOpsLimit = 3;
constexpr uint64_t kMinMemLimit = 64ull * 1024 * 1024;
constexpr size_t kRecoveryKeyBytes = 32;
constexpr size_t kRecoveryDataChars = 52;  // ceil(256 / 5)
constexpr size_t kRecoveryCheckChars = 2;  // 10 check bits
constexpr size_t kRecoveryGroupChars = 6;
constexpr size_t kMaxOwnerFileBytes = 64 * 1024;
constexpr char kBase32Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// libsodium must be initialised before use (sodium_malloc needs the page
/// size it finds); sodium_init is idempotent and thread-safe, so every entry
/// point simply calls this.
void ensureSodium() {
    static const bool ok = sodium_init() >= 0;
    if (!ok)
        throw std::runtime_error("libsodium could not be initialised");
}

std::filesystem::path keysDir(const std::filesystem::path& stateDir) {
    return stateDir / "keys";
}

std::filesystem::path ownerFile(const std::filesystem::path& stateDir) {
    return keysDir(stateDir) / "owner.json";
}

std::string errnoText(int err) {
    return std::strerror(err);
}

std::string toBase64(const uint8_t* data, size_t size) {
    const size_t len = sodium_base64_encoded_len(size, sodium_base64_VARIANT_ORIGINAL);
    std::string out(len, '\0');
    sodium_bin2base64(out.data(), len, data, size, sodium_base64_VARIANT_ORIGINAL);
    out.resize(len - 1);  // the terminating NUL
    return out;
}

/// Decode into \a out, which must be exactly the decoded size.
bool fromBase64(const std::string& text, uint8_t* out, size_t size) {
    size_t decoded = 0;
    const char* end = nullptr;
    if (sodium_base642bin(out, size, text.data(), text.size(), nullptr, &decoded, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    return decoded == size && end == text.data() + text.size();
}

std::vector<uint8_t> associatedData(std::string_view context, const PublicKey& publicKey) {
    std::vector<uint8_t> ad(context.begin(), context.end());
    ad.insert(ad.end(), publicKey.begin(), publicKey.end());
    return ad;
}

Expected<void> checkKdfParams(const KdfParams& params) {
    if (params.opsLimit < kMinOpsLimit)
        return makeError("Argon2id passes (" + std::to_string(params.opsLimit) +
                         ") below the minimum of " + std::to_string(kMinOpsLimit));
    if (params.memLimit < kMinMemLimit)
        return makeError("Argon2id memory (" + std::to_string(params.memLimit) +
                         " bytes) below the minimum of 64 MiB");
    if (params.opsLimit > crypto_pwhash_argon2id_OPSLIMIT_MAX)
        return makeError("Argon2id passes (" + std::to_string(params.opsLimit) + ") too large");
    if (params.memLimit > crypto_pwhash_argon2id_MEMLIMIT_MAX ||
        params.memLimit > std::numeric_limits<size_t>::max())
        return makeError("Argon2id memory (" + std::to_string(params.memLimit) +
                         " bytes) too large for this machine");
    if (params.memLimit % 1024 != 0)
        return makeError("Argon2id memory must be a whole number of KiB");
    return {};
}

/// One wrapped copy of the secret key, as stored.
struct Wrap {
    std::array<uint8_t, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES> nonce{};
    std::array<uint8_t, crypto_box_SECRETKEYBYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES>
        ciphertext{};
};

struct PassphraseWrap {
    KdfParams params;
    std::array<uint8_t, crypto_pwhash_SALTBYTES> salt{};
    Wrap wrap;
};

struct OwnerFile {
    PublicKey publicKey{};
    PassphraseWrap passphrase;
    Wrap recovery;
};

Wrap seal(const SecretBytes& wrapKey, const SecretBytes& secretKey, std::string_view context,
          const PublicKey& publicKey) {
    Wrap w;
    randombytes_buf(w.nonce.data(), w.nonce.size());
    const auto ad = associatedData(context, publicKey);
    unsigned long long len = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(w.ciphertext.data(), &len, secretKey.data(),
                                               secretKey.size(), ad.data(), ad.size(), nullptr,
                                               w.nonce.data(), wrapKey.data());
    return w;
}

/// Decrypt straight into guarded memory; nullopt when the key is wrong (or
/// the wrap was tampered with, which we cannot tell apart).
std::optional<SecretBytes> open(const SecretBytes& wrapKey, const Wrap& w, std::string_view context,
                                const PublicKey& publicKey) {
    SecretBytes secretKey(crypto_box_SECRETKEYBYTES);
    const auto ad = associatedData(context, publicKey);
    unsigned long long len = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            secretKey.data(), &len, nullptr, w.ciphertext.data(), w.ciphertext.size(), ad.data(),
            ad.size(), w.nonce.data(), wrapKey.data()) != 0)
        return std::nullopt;
    return secretKey;
}

Expected<SecretBytes> passphraseKey(std::string_view passphrase, const KdfParams& params,
                                    const std::array<uint8_t, crypto_pwhash_SALTBYTES>& salt) {
    SecretBytes key(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    if (crypto_pwhash(key.data(), key.size(), passphrase.data(), passphrase.size(), salt.data(),
                      params.opsLimit, static_cast<size_t>(params.memLimit),
                      crypto_pwhash_ALG_ARGON2ID13) != 0)
        return makeError("not enough memory for the passphrase key derivation (" +
                         std::to_string(params.memLimit / (1024 * 1024)) + " MiB)");
    return key;
}

SecretBytes recoveryWrapKey(const SecretBytes& recoveryKey) {
    SecretBytes key(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    crypto_generichash_state st;
    crypto_generichash_init(&st, nullptr, 0, key.size());
    crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(kRecoveryKdfContext.data()),
                              kRecoveryKdfContext.size());
    crypto_generichash_update(&st, recoveryKey.data(), recoveryKey.size());
    crypto_generichash_final(&st, key.data(), key.size());
    sodium_memzero(&st, sizeof st);
    return key;
}

/// The 10 check bits of a recovery key: the first 10 bits of its BLAKE2b-256.
unsigned recoveryCheck(const uint8_t* key) {
    std::array<uint8_t, 32> h{};
    crypto_generichash(h.data(), h.size(), key, kRecoveryKeyBytes, nullptr, 0);
    return (static_cast<unsigned>(h[0]) << 2) | (h[1] >> 6);
}

nlohmann::json wrapJson(const Wrap& w) {
    return {{"nonce", toBase64(w.nonce.data(), w.nonce.size())},
            {"ciphertext", toBase64(w.ciphertext.data(), w.ciphertext.size())}};
}

std::string serialise(const OwnerFile& f) {
    nlohmann::json passphrase = wrapJson(f.passphrase.wrap);
    passphrase["kdf"] = "argon2id13";
    passphrase["opsLimit"] = f.passphrase.params.opsLimit;
    passphrase["memLimit"] = f.passphrase.params.memLimit;
    passphrase["salt"] = toBase64(f.passphrase.salt.data(), f.passphrase.salt.size());
    nlohmann::json recovery = wrapJson(f.recovery);
    recovery["kdf"] = "blake2b-256";
    const nlohmann::json j = {
        {"format", kFormatName},
        {"version", kFormatVersion},
        {"publicKey", toBase64(f.publicKey.data(), f.publicKey.size())},
        {"passphraseWrap", passphrase},
        {"recoveryWrap", recovery},
    };
    return j.dump(2) + "\n";
}

template <size_t N>
bool readBase64Field(const nlohmann::json& obj, const char* name, std::array<uint8_t, N>& out) {
    auto it = obj.find(name);
    return it != obj.end() && it->is_string() &&
           fromBase64(it->template get<std::string>(), out.data(), out.size());
}

bool readWrap(const nlohmann::json& obj, Wrap& w) {
    return obj.is_object() && readBase64Field(obj, "nonce", w.nonce) &&
           readBase64Field(obj, "ciphertext", w.ciphertext);
}

Expected<std::string> readSmallFile(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return makeError("no owner key at " + path.string() + ": run the first-run setup");
        return makeError("cannot open " + path.string() + ": " + errnoText(errno));
    }
    std::string text;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            const int err = errno;
            ::close(fd);
            return makeError("cannot read " + path.string() + ": " + errnoText(err));
        }
        if (n == 0)
            break;
        text.append(buf, static_cast<size_t>(n));
        if (text.size() > kMaxOwnerFileBytes) {
            ::close(fd);
            return makeError(path.string() + " is too large to be an owner key file");
        }
    }
    ::close(fd);
    return text;
}

Expected<OwnerFile> readOwnerFile(const std::filesystem::path& stateDir) {
    const auto path = ownerFile(stateDir);
    auto text = readSmallFile(path);
    if (!text)
        return text.error();
    const auto damaged = [&](const std::string& why) {
        return makeError(path.string() + " is damaged (" + why +
                         "); restore it from a backup of the state directory");
    };
    const auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return damaged("not JSON");
    if (j.value("format", std::string()) != kFormatName)
        return damaged("not a Porchlight owner key file");
    auto version = j.find("version");
    if (version == j.end() || !version->is_number_integer())
        return damaged("no version");
    if (version->get<int64_t>() != kFormatVersion)
        return makeError(path.string() + " has format version " +
                         std::to_string(version->get<int64_t>()) +
                         ", which this version of Porchlight cannot read");

    OwnerFile f;
    if (!readBase64Field(j, "publicKey", f.publicKey))
        return damaged("bad publicKey");

    auto pw = j.find("passphraseWrap");
    if (pw == j.end() || !readWrap(*pw, f.passphrase.wrap) ||
        !readBase64Field(*pw, "salt", f.passphrase.salt))
        return damaged("bad passphraseWrap");
    if (pw->value("kdf", std::string()) != "argon2id13")
        return damaged("unknown passphrase key derivation");
    auto ops = pw->find("opsLimit");
    auto mem = pw->find("memLimit");
    if (ops == pw->end() || !ops->is_number_unsigned() || mem == pw->end() ||
        !mem->is_number_unsigned())
        return damaged("bad Argon2id parameters");
    f.passphrase.params.opsLimit = ops->get<uint64_t>();
    f.passphrase.params.memLimit = mem->get<uint64_t>();
    if (auto ok = checkKdfParams(f.passphrase.params); !ok)
        return damaged(ok.error().message);

    auto rw = j.find("recoveryWrap");
    if (rw == j.end() || !readWrap(*rw, f.recovery))
        return damaged("bad recoveryWrap");
    if (rw->value("kdf", std::string()) != "blake2b-256")
        return damaged("unknown recovery key derivation");
    return f;
}

/// fsync a directory so a rename or a new entry in it survives a power cut.
Expected<void> syncDir(const std::filesystem::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return makeError("cannot open " + dir.string() + ": " + errnoText(errno));
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0)
        return makeError("cannot sync " + dir.string() + ": " + errnoText(err));
    return {};
}

/// Write owner.json atomically: a temporary file in the same directory,
/// fsync, then either link() (\a replace false: fails if the file exists, so
/// two concurrent setups cannot both win) or rename(), then fsync the
/// directory. A power cut leaves either the old file or the new one.
Expected<void> writeOwnerFile(const std::filesystem::path& stateDir, const OwnerFile& f,
                              bool replace) {
    const auto dir = keysDir(stateDir);
    const auto target = ownerFile(stateDir);
    std::string tmpl = (dir / ".owner.json.XXXXXX").string();
    const int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);  // mode 0600
    if (fd < 0)
        return makeError("cannot create a file in " + dir.string() + ": " + errnoText(errno));
    const std::filesystem::path tmp = tmpl;
    const auto fail = [&](const std::string& what, int err) -> Error {
        ::close(fd);
        ::unlink(tmp.c_str());
        return makeError(what + ": " + errnoText(err));
    };
    const std::string text = serialise(f);
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return fail("cannot write " + tmp.string(), errno);
        }
        done += static_cast<size_t>(n);
    }
    if (::fchmod(fd, 0600) != 0)
        return fail("cannot set the permissions of " + tmp.string(), errno);
    if (::fsync(fd) != 0)
        return fail("cannot sync " + tmp.string(), errno);
    ::close(fd);
    if (replace) {
        if (::rename(tmp.c_str(), target.c_str()) != 0) {
            const int err = errno;
            ::unlink(tmp.c_str());
            return makeError("cannot replace " + target.string() + ": " + errnoText(err));
        }
    } else {
        if (::link(tmp.c_str(), target.c_str()) != 0) {
            const int err = errno;
            ::unlink(tmp.c_str());
            if (err == EEXIST)
                return makeError("an owner key already exists at " + target.string() +
                                 "; setup has been done");
            return makeError("cannot create " + target.string() + ": " + errnoText(err));
        }
        ::unlink(tmp.c_str());
    }
    return syncDir(dir);
}

Expected<void> makeKeysDir(const std::filesystem::path& stateDir) {
    std::error_code ec;
    std::filesystem::create_directories(stateDir, ec);
    if (ec)
        return makeError("cannot create " + stateDir.string() + ": " + ec.message());
    const auto dir = keysDir(stateDir);
    if (::mkdir(dir.c_str(), 0700) != 0) {
        if (errno != EEXIST)
            return makeError("cannot create " + dir.string() + ": " + errnoText(errno));
    } else if (auto ok = syncDir(stateDir); !ok) {
        return ok;
    }
    // Only the daemon's user may even list the key directory, whatever the
    // umask or an earlier hand-made directory said.
    if (::chmod(dir.c_str(), 0700) != 0)
        return makeError("cannot set the permissions of " + dir.string() + ": " + errnoText(errno));
    return {};
}

PublicKey publicKeyOf(const SecretBytes& secretKey) {
    PublicKey pk{};
    crypto_scalarmult_base(pk.data(), secretKey.data());
    return pk;
}

Expected<PassphraseWrap> wrapWithPassphrase(const SecretBytes& secretKey,
                                            const PublicKey& publicKey, std::string_view passphrase,
                                            const KdfParams& params) {
    PassphraseWrap pw;
    pw.params = params;
    randombytes_buf(pw.salt.data(), pw.salt.size());
    auto key = passphraseKey(passphrase, params, pw.salt);
    if (!key)
        return key.error();
    pw.wrap = seal(*key, secretKey, kPassphraseContext, publicKey);
    return pw;
}

Expected<OwnerKeyPair> finishUnlock(const OwnerFile& f, SecretBytes secretKey) {
    if (publicKeyOf(secretKey) != f.publicKey)
        return makeError(
            "the owner key file is inconsistent: the unwrapped secret key does not belong to "
            "its public key");
    OwnerKeyPair pair;
    pair.publicKey = f.publicKey;
    pair.secretKey = std::move(secretKey);
    return pair;
}

size_t utf8Length(std::string_view s) {
    size_t n = 0;
    for (const char c : s)
        if ((static_cast<unsigned char>(c) & 0xC0) != 0x80)
            ++n;
    return n;
}

}  // namespace

SecretBytes::SecretBytes(size_t size) {
    ensureSodium();
    if (size == 0)
        return;
    data_ = static_cast<uint8_t*>(sodium_malloc(size));
    if (!data_)
        throw std::bad_alloc();
    size_ = size;
}

SecretBytes::~SecretBytes() {
    if (data_)
        sodium_free(data_);  // wipes before freeing
}

SecretBytes::SecretBytes(SecretBytes&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& o) noexcept {
    if (this != &o) {
        if (data_)
            sodium_free(data_);
        data_ = std::exchange(o.data_, nullptr);
        size_ = std::exchange(o.size_, 0);
    }
    return *this;
}

std::string formatRecoveryKey(const SecretBytes& key) {
    assert(key.size() == kRecoveryKeyBytes);
    std::string chars;
    chars.reserve(kRecoveryDataChars + kRecoveryCheckChars);
    // RFC 4648 base32, most significant bit first, no '=' padding; the last
    // character carries the final bit followed by four zero bits.
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < key.size(); ++i) {
        acc = (acc << 8) | key.data()[i];
        bits += 8;
        while (bits >= 5) {
            chars += kBase32Alphabet[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        chars += kBase32Alphabet[(acc << (5 - bits)) & 31];
    const unsigned check = recoveryCheck(key.data());
    chars += kBase32Alphabet[check >> 5];
    chars += kBase32Alphabet[check & 31];

    std::string out;
    for (size_t i = 0; i < chars.size(); ++i) {
        if (i > 0 && i % kRecoveryGroupChars == 0)
            out += '-';
        out += chars[i];
    }
    sodium_memzero(chars.data(), chars.size());
    return out;
}

Expected<SecretBytes> parseRecoveryKey(std::string_view text) {
    ensureSodium();
    constexpr size_t kChars = kRecoveryDataChars + kRecoveryCheckChars;
    // The 5-bit values go to guarded memory: they are the key.
    SecretBytes values(kChars);
    size_t n = 0;
    for (const char raw : text) {
        if (raw == '-' || raw == ' ' || raw == '\t')
            continue;
        char c = (raw >= 'a' && raw <= 'z') ? static_cast<char>(raw - 'a' + 'A') : raw;
        // Characters people confuse with letters, none of which base32 uses.
        if (c == '0')
            c = 'O';
        else if (c == '1')
            c = 'I';
        else if (c == '8')
            c = 'B';
        int v = -1;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= '2' && c <= '7')
            v = c - '2' + 26;
        if (v < 0) {
            const bool printable = raw > ' ' && raw < 127;
            return makeError(std::string("the recovery key was mistyped: ") +
                             (printable ? std::string("'") + raw + "'" : "a character") +
                             " is not one of its letters or digits (A-Z, 2-7)");
        }
        if (n < kChars)
            values.data()[n] = static_cast<uint8_t>(v);
        ++n;
    }
    if (n != kChars)
        return makeError("the recovery key was mistyped: it has " + std::to_string(kChars) +
                         " letters and digits (9 groups of 6), this has " + std::to_string(n));

    SecretBytes key(kRecoveryKeyBytes);
    unsigned acc = 0;
    int bits = 0;
    size_t out = 0;
    for (size_t i = 0; i < kRecoveryDataChars; ++i) {
        acc = ((acc << 5) | values.data()[i]) & 0xFFFF;
        bits += 5;
        if (bits >= 8) {
            key.data()[out++] = static_cast<uint8_t>(acc >> (bits - 8));
            bits -= 8;
        }
    }
    // The four bits left over must be zero in a key we wrote.
    const bool padOk = (acc & ((1u << bits) - 1)) == 0;
    acc = 0;
    const unsigned check = (static_cast<unsigned>(values.data()[kRecoveryDataChars]) << 5) |
                           values.data()[kRecoveryDataChars + 1];
    if (!padOk || check != recoveryCheck(key.data()))
        return makeError(
            "the recovery key was mistyped: its check letters do not match; compare each group "
            "with the copy you wrote down");
    return key;
}

bool ownerExists(const std::filesystem::path& stateDir) {
    std::error_code ec;
    return std::filesystem::exists(ownerFile(stateDir), ec);
}

Expected<PublicKey> loadPublicKey(const std::filesystem::path& stateDir) {
    ensureSodium();
    auto f = readOwnerFile(stateDir);
    if (!f)
        return f.error();
    return f->publicKey;
}

Expected<CreatedOwner> createOwner(const std::filesystem::path& stateDir,
                                   std::string_view passphrase, KdfParams params) {
    ensureSodium();
    if (auto ok = checkPassphrase(passphrase); !ok)
        return ok.error();
    if (auto ok = checkKdfParams(params); !ok)
        return ok.error();
    if (ownerExists(stateDir))
        return makeError("an owner key already exists at " + ownerFile(stateDir).string() +
                         "; setup has been done");
    if (auto ok = makeKeysDir(stateDir); !ok)
        return ok.error();

    CreatedOwner created;
    created.keyPair.secretKey = SecretBytes(crypto_box_SECRETKEYBYTES);
    crypto_box_keypair(created.keyPair.publicKey.data(), created.keyPair.secretKey.data());

    OwnerFile f;
    f.publicKey = created.keyPair.publicKey;
    auto pw = wrapWithPassphrase(created.keyPair.secretKey, f.publicKey, passphrase, params);
    if (!pw)
        return pw.error();
    f.passphrase = *pw;

    SecretBytes recoveryKey(kRecoveryKeyBytes);
    randombytes_buf(recoveryKey.data(), recoveryKey.size());
    f.recovery = seal(recoveryWrapKey(recoveryKey), created.keyPair.secretKey, kRecoveryContext,
                      f.publicKey);
    created.recoveryKey = formatRecoveryKey(recoveryKey);

    if (auto ok = writeOwnerFile(stateDir, f, false); !ok)
        return ok.error();
    return created;
}

Expected<OwnerKeyPair> unlockWithPassphrase(const std::filesystem::path& stateDir,
                                            std::string_view passphrase) {
    ensureSodium();
    auto f = readOwnerFile(stateDir);
    if (!f)
        return f.error();
    auto key = passphraseKey(passphrase, f->passphrase.params, f->passphrase.salt);
    if (!key)
        return key.error();
    auto secretKey = open(*key, f->passphrase.wrap, kPassphraseContext, f->publicKey);
    if (!secretKey)
        return makeError(
            "wrong passphrase (if it is forgotten, the recovery key still opens the owner key)");
    return finishUnlock(*f, std::move(*secretKey));
}

Expected<OwnerKeyPair> unlockWithRecoveryKey(const std::filesystem::path& stateDir,
                                             std::string_view recoveryKey) {
    ensureSodium();
    // Parse first: a typo is reported as such, before the key file is read.
    auto key = parseRecoveryKey(recoveryKey);
    if (!key)
        return key.error();
    auto f = readOwnerFile(stateDir);
    if (!f)
        return f.error();
    auto secretKey = open(recoveryWrapKey(*key), f->recovery, kRecoveryContext, f->publicKey);
    if (!secretKey)
        return makeError(
            "wrong recovery key: it is well-formed but does not open this owner key (is it "
            "from another device or an earlier setup?)");
    return finishUnlock(*f, std::move(*secretKey));
}

Expected<void> changePassphrase(const std::filesystem::path& stateDir, const OwnerKeyPair& keyPair,
                                std::string_view newPassphrase, KdfParams params) {
    ensureSodium();
    if (auto ok = checkPassphrase(newPassphrase); !ok)
        return ok;
    if (auto ok = checkKdfParams(params); !ok)
        return ok;
    auto f = readOwnerFile(stateDir);
    if (!f)
        return f.error();
    if (keyPair.secretKey.size() != crypto_box_SECRETKEYBYTES ||
        keyPair.publicKey != f->publicKey || publicKeyOf(keyPair.secretKey) != f->publicKey)
        return makeError("the unlocked key pair is not the one stored in " +
                         ownerFile(stateDir).string());
    auto pw = wrapWithPassphrase(keyPair.secretKey, f->publicKey, newPassphrase, params);
    if (!pw)
        return pw.error();
    f->passphrase = *pw;
    return writeOwnerFile(stateDir, *f, true);
}

Expected<void> checkPassphrase(std::string_view passphrase) {
    const size_t length = utf8Length(passphrase);
    if (length < 8)
        return makeError("the passphrase needs at least 8 characters (this one has " +
                         std::to_string(length) +
                         "); a few unrelated words are easy to remember and hard to guess");
    bool allSame = true;
    for (const char c : passphrase)
        allSame = allSame && c == passphrase.front();
    if (allSame)
        return makeError(
            "the passphrase is one character repeated; choose something less "
            "easy to guess, such as a few unrelated words");
    return {};
}

}  // namespace porchlight::keys
