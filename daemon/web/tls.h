// The web server's TLS certificate: the owner's, or a self-signed one made at
// first start and kept in the state directory.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "expected.h"

namespace boost::asio::ssl {
class context;
}

namespace porchlight {
struct WebConfig;
}

namespace porchlight::web {

struct CertificateFiles {
    std::filesystem::path certificate;
    std::filesystem::path key;
};

/// The certificate to serve: [web] certificate and key when set, otherwise
/// STATE/web/cert.pem and key.pem, generated when missing and reused after.
Expected<CertificateFiles> ensureCertificate(const WebConfig& config,
                                             const std::filesystem::path& stateDir);

/// Generates a self-signed certificate for \a hostname into the two paths:
/// EC P-256, 10 years, subjectAltName with the host name, hostname.local,
/// the interfaces' addresses, 127.0.0.1 and ::1.
Expected<void> generateSelfSigned(const std::filesystem::path& certificate,
                                  const std::filesystem::path& key, const std::string& hostname);

/// A server context (TLS 1.2 and later) serving \a files.
Expected<std::shared_ptr<boost::asio::ssl::context>> makeServerContext(
    const CertificateFiles& files);

}  // namespace porchlight::web
