// TLS for the web server: see tls.h.
//
// The self-signed certificate is what a device without a domain name can
// offer: the browser warns once, and after that the connection is private.
// Its key never leaves STATE/web (0700, key 0600).
#include "tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <boost/asio/ssl/context.hpp>

#include "config.h"

namespace porchlight::web {
namespace {

constexpr long kValiditySeconds = 10L * 366 * 24 * 3600;

/// The newest OpenSSL error, for messages; clears the queue.
std::string opensslError() {
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0)
        return "unknown OpenSSL error";
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    return buf;
}

struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
    void operator()(X509* p) const { X509_free(p); }
};
struct BioFree {
    void operator()(BIO* p) const { BIO_free(p); }
};
struct NamesFree {
    void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
struct ExtFree {
    void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};

/// The machine's interface addresses (link-local IPv6 left out: a browser
/// cannot name them without a zone), as raw bytes.
std::set<std::vector<unsigned char>> interfaceAddresses() {
    std::set<std::vector<unsigned char>> out;
    out.insert({127, 0, 0, 1});
    std::vector<unsigned char> loopback6(16, 0);
    loopback6[15] = 1;
    out.insert(loopback6);
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0)
        return out;
    for (ifaddrs* i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr)
            continue;
        if (i->ifa_addr->sa_family == AF_INET) {
            const auto* a = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
            const auto* b = reinterpret_cast<const unsigned char*>(&a->sin_addr);
            out.insert(std::vector<unsigned char>(b, b + 4));
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            const auto* a = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
            if (IN6_IS_ADDR_LINKLOCAL(&a->sin6_addr))
                continue;
            const auto* b = reinterpret_cast<const unsigned char*>(&a->sin6_addr);
            out.insert(std::vector<unsigned char>(b, b + 16));
        }
    }
    freeifaddrs(list);
    return out;
}

bool addDns(GENERAL_NAMES* names, const std::string& dns) {
    GENERAL_NAME* name = GENERAL_NAME_new();
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    if (!name || !s || !ASN1_STRING_set(s, dns.data(), static_cast<int>(dns.size()))) {
        GENERAL_NAME_free(name);
        ASN1_IA5STRING_free(s);
        return false;
    }
    GENERAL_NAME_set0_value(name, GEN_DNS, s);
    return sk_GENERAL_NAME_push(names, name) > 0;
}

bool addIp(GENERAL_NAMES* names, const std::vector<unsigned char>& ip) {
    GENERAL_NAME* name = GENERAL_NAME_new();
    ASN1_OCTET_STRING* s = ASN1_OCTET_STRING_new();
    if (!name || !s || !ASN1_OCTET_STRING_set(s, ip.data(), static_cast<int>(ip.size()))) {
        GENERAL_NAME_free(name);
        ASN1_OCTET_STRING_free(s);
        return false;
    }
    GENERAL_NAME_set0_value(name, GEN_IPADD, s);
    return sk_GENERAL_NAME_push(names, name) > 0;
}

bool addExtension(X509* cert, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    std::unique_ptr<X509_EXTENSION, ExtFree> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    return ext && X509_add_ext(cert, ext.get(), -1);
}

/// Writes \a pem to \a path through a temporary file and a rename, so that a
/// crash never leaves half a key behind.
Expected<void> writeFile(const std::filesystem::path& path, const std::string& pem, mode_t mode) {
    std::string tmp = path.string() + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return makeError("cannot write " + tmp + ": " + std::strerror(errno));
    ::fchmod(fd, mode);
    size_t done = 0;
    while (done < pem.size()) {
        ssize_t n = ::write(fd, pem.data() + done, pem.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            ::close(fd);
            return makeError("cannot write " + tmp + ": " + std::strerror(e));
        }
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0)
        return makeError("cannot write " + tmp + ": " + std::strerror(errno));
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        return makeError("cannot rename " + tmp + ": " + std::strerror(errno));
    return {};
}

std::string bioString(BIO* bio) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<size_t>(n));
}

/// Reads a whole file, for checking that the owner's files can be read.
Expected<std::string> readPem(const std::filesystem::path& path, const char* what) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new_file(path.c_str(), "r"));
    if (!bio)
        return makeError(std::string("cannot read [web] ") + what + " " + path.string() + ": " +
                         std::strerror(errno));
    std::string text;
    char buf[4096];
    int n;
    while ((n = BIO_read(bio.get(), buf, sizeof buf)) > 0)
        text.append(buf, static_cast<size_t>(n));
    return text;
}

std::string hostName() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0')
        return "porchlight";
    return buf;
}

}  // namespace

Expected<void> generateSelfSigned(const std::filesystem::path& certificate,
                                  const std::filesystem::path& key, const std::string& hostname) {
    std::unique_ptr<EVP_PKEY, PkeyFree> pkey(EVP_EC_gen("P-256"));
    if (!pkey)
        return makeError("cannot generate the web server's key: " + opensslError());
    std::unique_ptr<X509, X509Free> cert(X509_new());
    if (!cert)
        return makeError("cannot create the web server's certificate: " + opensslError());
    // A random serial: two certificates from the same host name must differ,
    // or browsers that remember an exception reject the new one.
    std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_new(), BN_free);
    if (!bn || !BN_rand(bn.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY))
        return makeError("cannot make a certificate serial: " + opensslError());
    bool ok = X509_set_version(cert.get(), 2) &&  // v3
              BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) &&
              X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) &&
              X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValiditySeconds) &&
              X509_set_pubkey(cert.get(), pkey.get());
    X509_NAME* subject = X509_get_subject_name(cert.get());
    ok = ok && subject &&
         X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>("Porchlight"), -1, -1,
                                    0) &&
         X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>(hostname.c_str()), -1,
                                    -1, 0) &&
         X509_set_issuer_name(cert.get(), subject);
    if (!ok)
        return makeError("cannot fill in the web server's certificate: " + opensslError());

    std::unique_ptr<GENERAL_NAMES, NamesFree> names(sk_GENERAL_NAME_new_null());
    ok = names && addDns(names.get(), hostname) && addDns(names.get(), hostname + ".local");
    if (hostname != "localhost")
        ok = ok && addDns(names.get(), "localhost");
    for (const auto& ip : interfaceAddresses())
        ok = ok && addIp(names.get(), ip);
    ok = ok && X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names.get(), 0, 0) == 1 &&
         addExtension(cert.get(), NID_basic_constraints, "critical,CA:FALSE") &&
         addExtension(cert.get(), NID_key_usage, "critical,digitalSignature") &&
         addExtension(cert.get(), NID_ext_key_usage, "serverAuth") &&
         addExtension(cert.get(), NID_subject_key_identifier, "hash");
    if (!ok)
        return makeError("cannot add the certificate's names: " + opensslError());
    if (!X509_sign(cert.get(), pkey.get(), EVP_sha256()))
        return makeError("cannot sign the web server's certificate: " + opensslError());

    std::unique_ptr<BIO, BioFree> keyBio(BIO_new(BIO_s_mem()));
    std::unique_ptr<BIO, BioFree> certBio(BIO_new(BIO_s_mem()));
    if (!keyBio || !certBio ||
        !PEM_write_bio_PrivateKey(keyBio.get(), pkey.get(), nullptr, nullptr, 0, nullptr,
                                  nullptr) ||
        !PEM_write_bio_X509(certBio.get(), cert.get()))
        return makeError("cannot encode the web server's certificate: " + opensslError());
    std::string keyPem = bioString(keyBio.get());
    // The key first: a certificate on disk then always has its key.
    Expected<void> written = writeFile(key, keyPem, 0600);
    OPENSSL_cleanse(keyPem.data(), keyPem.size());
    if (!written)
        return written;
    return writeFile(certificate, bioString(certBio.get()), 0644);
}

Expected<CertificateFiles> ensureCertificate(const WebConfig& config,
                                             const std::filesystem::path& stateDir) {
    if (!config.certificate.empty() || !config.key.empty()) {
        CertificateFiles files{config.certificate, config.key};
        // Read both now so that the message names the setting to fix.
        auto c = readPem(files.certificate, "certificate");
        if (!c)
            return c.error();
        auto k = readPem(files.key, "key");
        if (!k)
            return k.error();
        OPENSSL_cleanse(k->data(), k->size());
        return files;
    }
    std::filesystem::path dir = stateDir / "web";
    CertificateFiles files{dir / "cert.pem", dir / "key.pem"};
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        return makeError("cannot create " + dir.string() + ": " + std::strerror(errno));
    // Tighten a directory made by someone else: the key is in it.
    ::chmod(dir.c_str(), 0700);
    std::error_code ec;
    if (std::filesystem::exists(files.certificate, ec) && std::filesystem::exists(files.key, ec))
        return files;
    Expected<void> made = generateSelfSigned(files.certificate, files.key, hostName());
    if (!made)
        return made.error();
    return files;
}

Expected<std::shared_ptr<boost::asio::ssl::context>> makeServerContext(
    const CertificateFiles& files) {
    namespace ssl = boost::asio::ssl;
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    boost::system::error_code ec;
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                     ec);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    ctx->use_certificate_chain_file(files.certificate.string(), ec);
    if (ec)
        return makeError("cannot use [web] certificate " + files.certificate.string() + ": " +
                         opensslError() + " (it must be a PEM certificate)");
    ctx->use_private_key_file(files.key.string(), ssl::context::pem, ec);
    if (ec)
        return makeError("cannot use [web] key " + files.key.string() + ": " + opensslError() +
                         " (it must be the PEM private key of the certificate)");
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
        return makeError("[web] key " + files.key.string() + " does not match certificate " +
                         files.certificate.string());
    return ctx;
}

}  // namespace porchlight::web
