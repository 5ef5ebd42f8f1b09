// libFuzzer harness for the HTTP server's request path (daemon/web/
// http_server.cpp): each input is what a client sends on one plain-HTTP
// connection to 127.0.0.1, read by the real server (Beast's parser with our
// limits, the target's percent-decoding and query parsing, static files
// with their traversal checks, the hand-over to the API handler, keep-alive
// and the error answers).
//
// The www directory holds a few files and a symlink to a file outside it;
// that file's marker must never come back. Every answer must be HTTP with a
// status, and every JSON answer must parse (the body is built by hand with
// jsonString). The API handler here echoes the request it was given, so
// what the server made of the bytes is checked too.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "config.h"
#include "fuzz_support.h"
#include "http_server.h"

using namespace porchlight;
namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;

namespace {

constexpr const char* kSecret = "PORCHLIGHT-FUZZ-SECRET-OUTSIDE-WWW";

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "fuzz_http: %s\n", what.c_str());
    std::abort();
}

/// Answers every /api/ request with what it was given (as JSON built the
/// server's way), sometimes from inside handle(), sometimes later.
class EchoApi : public web::Handler {
public:
    explicit EchoApi(asio::io_context& io) : io_(io) {}
    void handle(const web::Request& request, std::function<void(web::Response)> respond) override {
        web::Response r;
        std::string body = "{\"method\": " + quote(request.method) +
                           ", \"path\": " + quote(request.path) + ", \"query\": {";
        bool first = true;
        for (const auto& [k, v] : request.query) {
            body += (first ? "" : ", ") + quote(k) + ": " + quote(v);
            first = false;
        }
        body += "}, \"headers\": " + std::to_string(request.headers.size()) +
                ", \"body\": " + quote(request.body) + "}";
        r.body = std::move(body);
        if (request.path.size() % 2)
            return respond(std::move(r));
        asio::post(io_, [respond, r]() mutable {
            respond(r);
            respond(r);  // a second answer must be ignored
        });
    }

private:
    /// The fuzzer learns the marker from the comparisons and sends it: an
    /// echo of it is not a file served from outside www.
    static std::string quote(std::string text) {
        for (size_t at = text.find(kSecret); at != std::string::npos; at = text.find(kSecret))
            text.replace(at, std::strlen(kSecret), "(marker)");
        return web::jsonString(text);
    }

    asio::io_context& io_;
};

struct Fixture {
    fuzz::ScratchDir dir{"porchlight-fuzz-http"};
    asio::io_context io;
    EchoApi api{io};
    std::unique_ptr<web::HttpServer> server;
    tcp::endpoint endpoint;

    Fixture() {
        const fs::path www = dir.path() / "www";
        fs::create_directories(www / "css");
        fuzz::writeFile(
            www / "index.html",
            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("<!doctype html>"), 15));
        fuzz::writeFile(www / "app.js", std::span<const uint8_t>(
                                            reinterpret_cast<const uint8_t*>("'use strict';"), 13));
        fuzz::writeFile(www / "css" / "site.css",
                        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("body{}"), 6));
        const std::string secret = kSecret;
        fuzz::writeFile(dir.path() / "secret.txt",
                        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(secret.data()),
                                                 secret.size()));
        fs::create_symlink(dir.path() / "secret.txt", www / "linked.txt");
        fs::create_directory_symlink(dir.path(), www / "up");

        WebConfig config;
        config.listen = {"http://127.0.0.1:0"};
        auto started = web::HttpServer::start(io, config, dir.path(), www, api);
        if (!started)
            fail("cannot start the server: " + started.error().message);
        server = std::move(*started);
        endpoint = tcp::endpoint(asio::ip::make_address("127.0.0.1"), server->ports().at(0));
    }
};

Fixture& fixture() {
    static Fixture f;
    return f;
}

/// Every answer in \a bytes, in order: each must be a valid HTTP response.
void checkResponses(const std::string& bytes, bool sentHead) {
    if (bytes.find(kSecret) != std::string::npos)
        fail("a file outside the www directory was served");
    // An answer to HEAD has a length but no body: without knowing which
    // request each answer is for, the framing cannot be followed.
    if (sentHead)
        return;
    asio::const_buffer rest(bytes.data(), bytes.size());
    while (rest.size() > 0) {
        http::response_parser<http::string_body> parser;
        parser.eager(true);
        parser.body_limit(32 * 1024 * 1024);
        boost::beast::error_code ec;
        const size_t used = parser.put(rest, ec);
        if (ec == http::error::need_more || (!ec && !parser.is_done())) {
            parser.put_eof(ec);
            if (ec || !parser.is_done())
                fail("the server sent a cut answer");
        } else if (ec) {
            fail("the server sent something that is not HTTP: " + ec.message());
        }
        rest += used;
        const auto& res = parser.get();
        const unsigned status = res.result_int();
        if (status < 200 || status > 599)
            fail("an answer without a sensible status");
        if (res.body().find(kSecret) != std::string::npos)
            fail("a file outside the www directory was served");
        if (res[http::field::content_type] == "application/json" && !res.body().empty() &&
            nlohmann::json::parse(res.body(), nullptr, false).is_discarded())
            fail("a JSON answer that does not parse: " + res.body());
        if (used == 0)
            break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::quietLogs();
    fixture();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Fixture& f = fixture();
    tcp::socket client(f.io);
    // Tens of thousands of connections a minute run the loopback out of
    // ports for a moment (TIME_WAIT): wait for one rather than report the
    // harness's own limit as a finding.
    boost::system::error_code connectError;
    for (int attempt = 0; attempt < 200; ++attempt) {
        client.close(connectError);
        client.connect(f.endpoint, connectError);
        if (!connectError)
            break;
        f.io.restart();
        f.io.run_for(std::chrono::milliseconds(50));
    }
    if (connectError)
        fail("cannot connect to the server: " + connectError.message());
    // Loopback buffers take a whole input without the server reading yet.
    asio::write(client, asio::buffer(data, size));
    client.shutdown(tcp::socket::shutdown_send);

    std::string received;
    std::array<char, 16384> chunk;
    bool done = false;
    std::function<void()> readMore = [&] {
        client.async_read_some(asio::buffer(chunk), [&](boost::system::error_code ec, size_t n) {
            received.append(chunk.data(), n);
            if (ec) {
                done = true;
                return;
            }
            readMore();
        });
    };
    readMore();
    // The server lingers up to 2 s after an error answer; the client's
    // closed side ends that at once. A deadline guards against a hang.
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done) {
        if (std::chrono::steady_clock::now() > end)
            fail("the server neither answered nor closed the connection");
        f.io.restart();
        f.io.run_one_for(std::chrono::milliseconds(100));
    }
    // Let the server finish closing its side before the next input.
    f.io.restart();
    f.io.poll();
    checkResponses(received,
                   std::string_view(reinterpret_cast<const char*>(data), size).find("HEAD") !=
                       std::string_view::npos);
    return 0;
}
