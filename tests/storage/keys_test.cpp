// Tests for the owner keys: setup, unlocking with the passphrase and the
// recovery key, typing mistakes, changing the passphrase, and what the key
// file on disk does (and does not) contain.
//
// Argon2id at the enforced minimum (64 MiB, 3 passes) takes a noticeable
// fraction of a second, so tests share owners where they can and count their
// passphrase operations.
#include "keys.h"

#include <gtest/gtest.h>

#include <stdlib.h>
#include <sys/stat.h>
#include "temp_dir.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace porchlight::keys {
namespace {

namespace fs = std::filesystem;

constexpr char kPassphrase[] = "correct horse battery staple";

/// Each test's scratch directory, named after this suite.
class TempDir : public porchlight::test::TempDir {
public:
    TempDir() : porchlight::test::TempDir("porchlight-keys") {}
};

std::string readFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

fs::path ownerFile(const TempDir& dir) {
    return dir.path() / "keys" / "owner.json";
}

std::string hex(const uint8_t* data, size_t size) {
    std::string out(size * 2 + 1, '\0');
    sodium_bin2hex(out.data(), out.size(), data, size);
    out.pop_back();
    return out;
}

std::string base64(const uint8_t* data, size_t size, int variant) {
    std::string out(sodium_base64_encoded_len(size, variant), '\0');
    sodium_bin2base64(out.data(), out.size(), data, size, variant);
    out.pop_back();
    return out;
}

std::string upper(std::string s) {
    for (char& c : s)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

std::string lower(std::string s) {
    for (char& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

SecretBytes bytesFrom(const std::vector<uint8_t>& v) {
    SecretBytes s(v.size());
    std::copy(v.begin(), v.end(), s.data());
    return s;
}

std::vector<uint8_t> bytesOf(const SecretBytes& s) {
    return std::vector<uint8_t>(s.data(), s.data() + s.size());
}

SecretBytes countingKey() {
    std::vector<uint8_t> v(32);
    for (size_t i = 0; i < v.size(); ++i)
        v[i] = static_cast<uint8_t>(i);
    return bytesFrom(v);
}

// ---------------------------------------------------------------------------
// Recovery key text

TEST(RecoveryKey, MatchesTheDocumentedEncoding) {
    // docs/ref/format.md gives this example; it was computed independently
    // (Python's base64.b32encode and hashlib.blake2b).
    EXPECT_EQ(formatRecoveryKey(countingKey()),
              "AAAQEA-YEAUDA-OCAJBI-FQYDIO-B4IBCE-QTCQKR-MFYYDE-NBWHA5-DYPQZM");
}

TEST(RecoveryKey, FormatsAsNineGroupsOfSixAndParsesBack) {
    for (int i = 0; i < 20; ++i) {
        SecretBytes key(32);
        randombytes_buf(key.data(), key.size());
        const std::string text = formatRecoveryKey(key);
        ASSERT_EQ(text.size(), 54u + 8u) << text;
        for (size_t j = 0; j < text.size(); ++j) {
            if (j % 7 == 6)
                EXPECT_EQ(text[j], '-') << text;
            else
                EXPECT_TRUE(std::isupper(static_cast<unsigned char>(text[j])) ||
                            (text[j] >= '2' && text[j] <= '7'))
                    << text;
        }
        auto parsed = parseRecoveryKey(text);
        ASSERT_TRUE(parsed) << parsed.error().message;
        EXPECT_EQ(bytesOf(*parsed), bytesOf(key));
    }
}

TEST(RecoveryKey, ForgivesCaseSpacesDashesAndLookalikeDigits) {
    const SecretBytes key = countingKey();
    const std::string text = formatRecoveryKey(key);  // contains O, I and B
    std::string noDashes;
    std::copy_if(text.begin(), text.end(), std::back_inserter(noDashes),
                 [](char c) { return c != '-'; });
    std::string spaced = text;
    std::replace(spaced.begin(), spaced.end(), '-', ' ');
    std::string lookalikes = text;
    for (char& c : lookalikes)
        c = c == 'O' ? '0' : c == 'I' ? '1' : c == 'B' ? '8' : c;
    ASSERT_NE(lookalikes, text);

    for (const std::string& variant :
         {lower(text), noDashes, lower(noDashes), spaced, "  " + text + " ", lookalikes}) {
        auto parsed = parseRecoveryKey(variant);
        ASSERT_TRUE(parsed) << variant << ": " << parsed.error().message;
        EXPECT_EQ(bytesOf(*parsed), bytesOf(key)) << variant;
    }
}

TEST(RecoveryKey, DetectsTypingMistakes) {
    const std::string text = formatRecoveryKey(countingKey());

    // One letter changed.
    std::string typo = text;
    typo[3] = typo[3] == 'X' ? 'Y' : 'X';
    auto parsed = parseRecoveryKey(typo);
    ASSERT_FALSE(parsed);
    EXPECT_NE(parsed.error().message.find("mistyped"), std::string::npos) << parsed.error().message;

    // Every possible single-character change: a 10-bit check lets about one
    // in a thousand through, so nearly all must be caught.
    static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    int tried = 0;
    int missed = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '-')
            continue;
        for (const char c : std::string_view(kAlphabet)) {
            if (c == text[i])
                continue;
            std::string t = text;
            t[i] = c;
            ++tried;
            missed += parseRecoveryKey(t).hasValue();
        }
    }
    EXPECT_LE(missed, tried / 200) << missed << " of " << tried << " typos went unnoticed";

    // Two neighbouring characters swapped.
    std::string swapped = text;
    std::swap(swapped[3], swapped[4]);  // Q and E
    EXPECT_FALSE(parseRecoveryKey(swapped));

    // Too short, too long, not base32 at all.
    for (const std::string& bad : {text.substr(0, text.size() - 1), text + "A",
                                   text.substr(0, 20) + "!" + text.substr(21), std::string()}) {
        auto r = parseRecoveryKey(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_NE(r.error().message.find("mistyped"), std::string::npos) << r.error().message;
    }
}

TEST(RecoveryKey, MistypedKeyIsReportedBeforeTheKeyFileIsEvenRead) {
    TempDir dir;  // no owner at all: only the typo can be reported
    std::string typo = formatRecoveryKey(countingKey());
    typo[10] = typo[10] == 'Z' ? 'Y' : 'Z';
    auto r = unlockWithRecoveryKey(dir.path(), typo);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("mistyped"), std::string::npos) << r.error().message;
}

// ---------------------------------------------------------------------------
// Passphrase policy and cost parameters (no key derivation runs here)

TEST(Passphrase, PolicyIsSimpleAndSaysWhatIsNeeded) {
    EXPECT_TRUE(checkPassphrase("eight ch"));
    EXPECT_TRUE(checkPassphrase(kPassphrase));
    EXPECT_TRUE(checkPassphrase("żółw żółw"));  // counted in characters, not bytes

    auto shortOne = checkPassphrase("seven c");
    ASSERT_FALSE(shortOne);
    EXPECT_NE(shortOne.error().message.find("at least 8 characters"), std::string::npos)
        << shortOne.error().message;
    EXPECT_FALSE(checkPassphrase("żółwżó"));  // 12 bytes, 6 characters
    EXPECT_FALSE(checkPassphrase(""));
    EXPECT_FALSE(checkPassphrase("aaaaaaaaaaaa"));
}

TEST(Owner, RefusesWeakKdfParametersAndPassphrases) {
    TempDir dir;
    auto fewPasses = createOwner(dir.path(), kPassphrase, KdfParams{2, 64ull << 20});
    ASSERT_FALSE(fewPasses);
    EXPECT_NE(fewPasses.error().message.find("minimum"), std::string::npos)
        << fewPasses.error().message;
    auto littleMemory = createOwner(dir.path(), kPassphrase, KdfParams{3, 32ull << 20});
    ASSERT_FALSE(littleMemory);
    EXPECT_NE(littleMemory.error().message.find("64 MiB"), std::string::npos)
        << littleMemory.error().message;
    EXPECT_FALSE(createOwner(dir.path(), "short", KdfParams{}));
    EXPECT_FALSE(ownerExists(dir.path()));
    EXPECT_FALSE(fs::exists(ownerFile(dir)));
}

TEST(Owner, NothingToUnlockBeforeSetup) {
    TempDir dir;
    EXPECT_FALSE(ownerExists(dir.path()));
    auto pk = loadPublicKey(dir.path());
    ASSERT_FALSE(pk);
    EXPECT_NE(pk.error().message.find("setup"), std::string::npos) << pk.error().message;
    EXPECT_FALSE(unlockWithRecoveryKey(dir.path(), formatRecoveryKey(countingKey())));
}

// ---------------------------------------------------------------------------
// The life of an owner key. Passphrase derivations: 3.

TEST(Owner, CreateUnlockRecoverAndKeepSecretsOffTheDisk) {
    TempDir dir;
    auto created = createOwner(dir.path(), kPassphrase);
    ASSERT_TRUE(created) << created.error().message;
    const PublicKey publicKey = created->keyPair.publicKey;
    const std::vector<uint8_t> secretKey = bytesOf(created->keyPair.secretKey);
    ASSERT_EQ(secretKey.size(), crypto_box_SECRETKEYBYTES);
    EXPECT_TRUE(ownerExists(dir.path()));

    // The file: private, and holding no secret in any common spelling.
    struct stat st {};
    ASSERT_EQ(::stat(ownerFile(dir).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat((dir.path() / "keys").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    const std::string stored = readFile(ownerFile(dir));
    const std::string raw(secretKey.begin(), secretKey.end());
    const std::string h = hex(secretKey.data(), secretKey.size());
    for (const std::string& secret :
         {raw, h, upper(h),
          base64(secretKey.data(), secretKey.size(), sodium_base64_VARIANT_ORIGINAL),
          base64(secretKey.data(), secretKey.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
          created->recoveryKey}) {
        EXPECT_EQ(stored.find(secret), std::string::npos) << "secret found in owner.json";
    }
    // Nor any other file in the keys directory (no stray temporary files).
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path() / "keys"), fs::directory_iterator()),
              1);

    auto pk = loadPublicKey(dir.path());
    ASSERT_TRUE(pk) << pk.error().message;
    EXPECT_EQ(*pk, publicKey);

    // Passphrase.
    auto unlocked = unlockWithPassphrase(dir.path(), kPassphrase);
    ASSERT_TRUE(unlocked) << unlocked.error().message;
    EXPECT_EQ(unlocked->publicKey, publicKey);
    EXPECT_EQ(bytesOf(unlocked->secretKey), secretKey);

    // Wrong passphrase: said plainly, and nothing written.
    auto wrong = unlockWithPassphrase(dir.path(), "correct horse battery stapler");
    ASSERT_FALSE(wrong);
    EXPECT_NE(wrong.error().message.find("wrong passphrase"), std::string::npos)
        << wrong.error().message;
    EXPECT_EQ(readFile(ownerFile(dir)), stored);

    // Recovery key, as printed and as people retype it.
    std::string retyped = lower(created->recoveryKey);
    retyped.erase(std::remove(retyped.begin(), retyped.end(), '-'), retyped.end());
    for (char& c : retyped)
        c = c == 'o' ? '0' : c;
    for (const std::string& text : {created->recoveryKey, retyped}) {
        auto recovered = unlockWithRecoveryKey(dir.path(), text);
        ASSERT_TRUE(recovered) << text << ": " << recovered.error().message;
        EXPECT_EQ(recovered->publicKey, publicKey);
        EXPECT_EQ(bytesOf(recovered->secretKey), secretKey);
    }

    // A well-formed recovery key that is not this owner's.
    SecretBytes other(32);
    randombytes_buf(other.data(), other.size());
    auto wrongKey = unlockWithRecoveryKey(dir.path(), formatRecoveryKey(other));
    ASSERT_FALSE(wrongKey);
    EXPECT_NE(wrongKey.error().message.find("wrong recovery key"), std::string::npos)
        << wrongKey.error().message;
    EXPECT_EQ(readFile(ownerFile(dir)), stored);

    // Setup cannot run twice over an existing owner.
    auto again = createOwner(dir.path(), "another passphrase");
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().message.find("already exists"), std::string::npos)
        << again.error().message;
    EXPECT_EQ(readFile(ownerFile(dir)), stored);
}

// Passphrase derivations: 4.
TEST(Owner, ChangePassphraseKeepsTheRecoveryKey) {
    TempDir dir;
    auto created = createOwner(dir.path(), kPassphrase);
    ASSERT_TRUE(created) << created.error().message;
    const std::string before = readFile(ownerFile(dir));

    // Weak choices are refused before anything is derived or written.
    EXPECT_FALSE(changePassphrase(dir.path(), created->keyPair, "short"));
    EXPECT_FALSE(
        changePassphrase(dir.path(), created->keyPair, "a new passphrase", {2, 64ull << 20}));
    // Someone else's key pair cannot replace this owner's wrap.
    OwnerKeyPair stranger;
    stranger.secretKey = SecretBytes(crypto_box_SECRETKEYBYTES);
    crypto_box_keypair(stranger.publicKey.data(), stranger.secretKey.data());
    EXPECT_FALSE(changePassphrase(dir.path(), stranger, "a new passphrase"));
    EXPECT_EQ(readFile(ownerFile(dir)), before);

    auto changed = changePassphrase(dir.path(), created->keyPair, "a new passphrase");
    ASSERT_TRUE(changed) << changed.error().message;
    struct stat st {};
    ASSERT_EQ(::stat(ownerFile(dir).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    auto old = unlockWithPassphrase(dir.path(), kPassphrase);
    ASSERT_FALSE(old);
    EXPECT_NE(old.error().message.find("wrong passphrase"), std::string::npos);

    auto renewed = unlockWithPassphrase(dir.path(), "a new passphrase");
    ASSERT_TRUE(renewed) << renewed.error().message;
    EXPECT_EQ(bytesOf(renewed->secretKey), bytesOf(created->keyPair.secretKey));

    auto recovered = unlockWithRecoveryKey(dir.path(), created->recoveryKey);
    ASSERT_TRUE(recovered) << recovered.error().message;
    EXPECT_EQ(bytesOf(recovered->secretKey), bytesOf(created->keyPair.secretKey));
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path() / "keys"), fs::directory_iterator()),
              1);
}

// The vector of docs/ref/format.md section 9.2. Passphrase derivations: 1.
TEST(FormatDocument, OwnerKeyFileVectorUnlocks) {
    TempDir dir;
    fs::create_directories(dir.path() / "keys");
    std::ofstream(ownerFile(dir)) << R"({
  "format": "porchlight-owner-key",
  "passphraseWrap": {
    "ciphertext": "LIsip44DDSZtP8bWogx5CQi8fFve9KqhfzrGQ+dZvaK3wc9uVrtbtrNTOs8yXP/I",
    "kdf": "argon2id13",
    "memLimit": 67108864,
    "nonce": "XQbi4ODh22dcLpPpnnLD3B2lI6fov97y",
    "opsLimit": 3,
    "salt": "WMZQHBxPDFWiIz9WGLq6rg=="
  },
  "publicKey": "S9KosaDiN1AO93tyWsoVZkw0xlZA9STKHli3c5iRPz4=",
  "recoveryWrap": {
    "ciphertext": "+hHzeDwHvOzYEqq/qBMtM5cisvlAVyDZoKzbhJEzU31c4+DfQ/t2AjixSErru7R6",
    "kdf": "blake2b-256",
    "nonce": "S5hCv56ItCbwrfNLBono+7IcbUaCrqdC"
  },
  "version": 1
})";
    const std::string sk = "7ddefd53b3748d89e8180411796a27251daa43e14df7563a48b8ed429bd1d36c";
    const std::string pk = "4bd2a8b1a0e237500ef77b725aca15664c34c65640f524ca1e58b77398913f3e";

    auto byPassphrase = unlockWithPassphrase(dir.path(), "porch light 2024");
    ASSERT_TRUE(byPassphrase) << byPassphrase.error().message;
    EXPECT_EQ(hex(byPassphrase->secretKey.data(), byPassphrase->secretKey.size()), sk);
    EXPECT_EQ(hex(byPassphrase->publicKey.data(), byPassphrase->publicKey.size()), pk);

    auto byRecovery = unlockWithRecoveryKey(
        dir.path(), "QBLWNF-DDX3BZ-HBKIDY-T7QL5B-66VZG3-K6PQ3T-W6OXD5-NNQTHB-FLTQMW");
    ASSERT_TRUE(byRecovery) << byRecovery.error().message;
    EXPECT_EQ(hex(byRecovery->secretKey.data(), byRecovery->secretKey.size()), sk);
}

TEST(Owner, DamagedKeyFileIsAnErrorNotACrash) {
    TempDir dir;
    fs::create_directories(dir.path() / "keys");
    for (const std::string& text :
         {std::string("not json"), std::string("{}"), std::string("[1,2]"),
          std::string(R"({"format":"porchlight-owner-key","version":2})"),
          std::string(R"({"format":"porchlight-owner-key","version":1,"publicKey":"AAAA"})")}) {
        std::ofstream(ownerFile(dir), std::ios::trunc) << text;
        auto pk = loadPublicKey(dir.path());
        EXPECT_FALSE(pk) << text;
        EXPECT_FALSE(unlockWithRecoveryKey(dir.path(), formatRecoveryKey(countingKey()))) << text;
    }
}

}  // namespace
}  // namespace porchlight::keys
