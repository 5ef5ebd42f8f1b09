// A minimal HTTP/1.1 POST over a loopback socket, for process tests that
// drive porchlightd's web API without linking it (and without curl).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

namespace porchlight::test {

struct HttpReply {
    int status = 0;  // 0: no answer (refused, reset, timed out)
    std::string body;
};

/// POST \a body (JSON) to http://127.0.0.1:\a port\a path; waits at most \a timeoutSeconds.
inline HttpReply httpPost(int port, const std::string& path, const std::string& body,
                          int timeoutSeconds = 30) {
    HttpReply reply;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return reply;
    timeval tv{timeoutSeconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return reply;
    }
    const std::string request =
        "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n" + body;
    size_t sent = 0;
    while (sent < request.size()) {
        const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            ::close(fd);
            return reply;
        }
        sent += static_cast<size_t>(n);
    }
    std::string in;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        in.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    // "HTTP/1.1 200 OK\r\n..."
    if (in.rfind("HTTP/1.", 0) == 0 && in.size() > 12)
        reply.status = std::atoi(in.c_str() + 9);
    if (auto end = in.find("\r\n\r\n"); end != std::string::npos)
        reply.body = in.substr(end + 4);
    return reply;
}

}  // namespace porchlight::test
