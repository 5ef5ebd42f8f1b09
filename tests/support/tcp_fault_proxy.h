// A TCP proxy on 127.0.0.1 that puts faults between a client and a server,
// for camera fault tests: forward faithfully, stall (hold everything, keep
// the connections open), send garbage instead of the server's bytes, or
// accept connections and never answer at all.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace porchlight::test {

class TcpFaultProxy {
public:
    enum class Mode { Forward, Stall, Garbage, Silent };

    /// Listens on 127.0.0.1 (any free port) and forwards to 127.0.0.1:\a upstreamPort.
    explicit TcpFaultProxy(int upstreamPort) : upstream_(upstreamPort) {
        listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) ||
            ::listen(listener_, 16) ||
            ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len))
            return;
        port_ = ntohs(addr.sin_port);
        acceptor_ = std::thread([this] { acceptLoop(); });
    }
    ~TcpFaultProxy() {
        stop_ = true;
        if (acceptor_.joinable())
            acceptor_.join();
        std::lock_guard lock(mutex_);
        for (auto& t : pumps_)
            t.join();
        if (listener_ >= 0)
            ::close(listener_);
    }
    TcpFaultProxy(const TcpFaultProxy&) = delete;
    TcpFaultProxy& operator=(const TcpFaultProxy&) = delete;

    int port() const { return port_; }
    void setMode(Mode m) { mode_ = m; }
    /// Close every open connection (new ones are still accepted).
    void dropConnections() { ++generation_; }
    int connections() const { return accepted_; }

private:
    void acceptLoop() {
        while (!stop_) {
            pollfd p{listener_, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0)
                continue;
            const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
            if (client < 0)
                continue;
            ++accepted_;
            std::lock_guard lock(mutex_);
            pumps_.emplace_back([this, client] { pump(client); });
        }
    }

    int connectUpstream() const {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<uint16_t>(upstream_));
        if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
            return fd;
        if (fd >= 0)
            ::close(fd);
        return -1;
    }

    static bool sendAll(int fd, const char* data, size_t n) {
        while (n > 0) {
            const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
            if (w <= 0)
                return false;
            data += w;
            n -= static_cast<size_t>(w);
        }
        return true;
    }

    void pump(int client) {
        const int generation = generation_;
        const int server = mode_ == Mode::Silent ? -1 : connectUpstream();
        std::mt19937 rng(static_cast<unsigned>(client));
        char buf[16384];
        while (!stop_ && generation == generation_) {
            const Mode mode = mode_;
            if (mode == Mode::Stall || server < 0) {
                // Hold on: read nothing, send nothing, keep the connection open.
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                continue;
            }
            if (mode == Mode::Garbage) {
                for (auto& c : buf)
                    c = static_cast<char>(rng());
                if (!sendAll(client, buf, 1400))
                    break;
                // Keep draining the server so it does not notice.
                pollfd p{server, POLLIN, 0};
                if (::poll(&p, 1, 10) > 0 && ::recv(server, buf, sizeof buf, 0) <= 0)
                    break;
                continue;
            }
            pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
            if (::poll(p, 2, 50) <= 0)
                continue;
            bool ok = true;
            for (int i = 0; i < 2 && ok; ++i) {
                if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                const ssize_t n = ::recv(p[i].fd, buf, sizeof buf, 0);
                ok = n > 0 && sendAll(i == 0 ? server : client, buf, static_cast<size_t>(n));
            }
            if (!ok)
                break;
        }
        ::close(client);
        if (server >= 0)
            ::close(server);
    }

    int upstream_;
    int listener_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<Mode> mode_{Mode::Forward};
    std::atomic<int> generation_{0};
    std::atomic<int> accepted_{0};
    std::thread acceptor_;
    std::mutex mutex_;
    std::vector<std::thread> pumps_;
};

}  // namespace porchlight::test
