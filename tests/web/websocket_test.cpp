// WebSocket upgrades in the web server, from a client's side on 127.0.0.1:
// the handshake goes through the API (which may refuse it with JSON), then
// binary and text messages both ways, the bounded send queue, closing from
// the server, over plain HTTP and over TLS.
#include "http_server.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "config.h"

namespace porchlight::web {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;

/// Greets with a binary and a text message, echoes what it receives, and
/// closes when told "close"; "flood" fills its send queue.
class TestEndpoint : public WebSocketEndpoint {
public:
    void opened(std::shared_ptr<WebSocket> socket) override {
        socket_ = socket;
        socket->send(std::make_shared<const std::string>("\x01\x02\x03", 3), false);
        socket->send(std::make_shared<const std::string>("hello"), true);
    }
    void received(const std::string& message, bool text) override {
        {
            std::lock_guard lock(mutex);
            got.push_back(message);
        }
        if (message == "close")
            return socket_->close(1008, "the session ended");
        if (message == "flood") {
            size_t accepted = 0;
            auto big = std::make_shared<const std::string>(64 * 1024, 'x');
            for (int i = 0; i < 1000; ++i)
                accepted += socket_->send(big, false) ? 1 : 0;
            floodAccepted = accepted;
            floodQueued = socket_->queuedBytes();
            return;
        }
        socket_->send(std::make_shared<const std::string>("echo:" + message), text);
    }
    void closed() override {
        socket_.reset();
        closedCalls += 1;
    }

    std::mutex mutex;
    std::vector<std::string> got;
    std::atomic<int> closedCalls{0};
    std::atomic<size_t> floodAccepted{0};
    std::atomic<size_t> floodQueued{0};

private:
    std::shared_ptr<WebSocket> socket_;
};

class UpgradeApi : public Handler {
public:
    void handle(const Request& request, std::function<void(Response)> respond) override {
        if (request.path == "/api/ws" && request.webSocketUpgrade) {
            Response r;
            r.status = 101;
            r.webSocket = endpoint;
            return respond(std::move(r));
        }
        if (request.path == "/api/ws-offered-to-plain") {
            Response r;
            r.status = 101;
            r.webSocket = endpoint;
            return respond(std::move(r));
        }
        respond(jsonError(401, "log in first"));
    }
    std::shared_ptr<TestEndpoint> endpoint = std::make_shared<TestEndpoint>();
};

class WebSocketServer : public ::testing::Test {
protected:
    void SetUp() override {
        std::string templ = ::testing::TempDir() + "/porchlight-ws-XXXXXX";
        ASSERT_NE(::mkdtemp(templ.data()), nullptr);
        dir_ = templ;
        std::filesystem::create_directories(dir_ / "www");
        std::filesystem::create_directories(dir_ / "state");
        std::ofstream(dir_ / "www/index.html") << "<!doctype html>";
    }
    void TearDown() override {
        stop();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    void start(const std::string& listen) {
        WebConfig config;
        config.listen = {listen};
        auto s = HttpServer::start(io_, config, dir_ / "state", dir_ / "www", api_);
        ASSERT_TRUE(s) << s.error().message;
        server_ = std::move(*s);
        port_ = server_->ports().at(0);
        guard_.emplace(io_.get_executor());
        thread_ = std::thread([this] { io_.run(); });
    }
    void stop() {
        if (thread_.joinable()) {
            guard_.reset();
            asio::post(io_, [this] { server_.reset(); });
            thread_.join();
        }
        server_.reset();
    }

    /// Handshake, greeting, echo and a close from the server, on \a ws.
    template <typename Ws>
    void exchange(Ws& ws) {
        beast::flat_buffer buffer;
        ws.read(buffer);
        EXPECT_TRUE(ws.got_binary());
        EXPECT_EQ(beast::buffers_to_string(buffer.data()), std::string("\x01\x02\x03", 3));
        buffer.clear();
        ws.read(buffer);
        EXPECT_TRUE(ws.got_text());
        EXPECT_EQ(beast::buffers_to_string(buffer.data()), "hello");
        buffer.clear();
        ws.text(true);
        ws.write(asio::buffer(std::string("ping")));
        ws.read(buffer);
        EXPECT_EQ(beast::buffers_to_string(buffer.data()), "echo:ping");
        buffer.clear();
        ws.write(asio::buffer(std::string("close")));
        beast::error_code ec;
        ws.read(buffer, ec);
        EXPECT_EQ(ec, websocket::error::closed) << ec.message();
        EXPECT_EQ(ws.reason().code, 1008);
        EXPECT_EQ(std::string(ws.reason().reason.c_str()), "the session ended");
        waitClosed();
    }
    void waitClosed() {
        for (int i = 0; i < 500 && api_.endpoint->closedCalls == 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        EXPECT_EQ(api_.endpoint->closedCalls, 1);
    }

    std::filesystem::path dir_;
    asio::io_context io_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
    std::thread thread_;
    UpgradeApi api_;
    std::unique_ptr<HttpServer> server_;
    uint16_t port_ = 0;
};

TEST_F(WebSocketServer, TheApiAcceptsAnUpgradeAndMessagesFlowBothWays) {
    start("http://127.0.0.1:0");
    asio::io_context io;
    websocket::stream<tcp::socket> ws(io);
    ws.next_layer().connect({asio::ip::make_address("127.0.0.1"), port_});
    websocket::response_type res;
    ws.handshake(res, "127.0.0.1", "/api/ws");
    EXPECT_EQ(res.result_int(), 101u);
    EXPECT_EQ(res[beast::http::field::server], "porchlightd");
    exchange(ws);
    std::lock_guard lock(api_.endpoint->mutex);
    EXPECT_EQ(api_.endpoint->got, (std::vector<std::string>{"ping", "close"}));
}

TEST_F(WebSocketServer, WorksOverTls) {
    start("https://127.0.0.1:0");
    asio::io_context io;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_verify_mode(asio::ssl::verify_none);
    websocket::stream<beast::ssl_stream<tcp::socket>> ws(io, ctx);
    beast::get_lowest_layer(ws).connect({asio::ip::make_address("127.0.0.1"), port_});
    ws.next_layer().handshake(asio::ssl::stream_base::client);
    ws.handshake("127.0.0.1", "/api/ws");
    exchange(ws);
}

TEST_F(WebSocketServer, ARefusedUpgradeGetsTheApisJsonAnswer) {
    start("http://127.0.0.1:0");
    {
        asio::io_context io;
        websocket::stream<tcp::socket> ws(io);
        ws.next_layer().connect({asio::ip::make_address("127.0.0.1"), port_});
        beast::error_code ec;
        ws.handshake("127.0.0.1", "/api/cameras/door/live", ec);
        EXPECT_EQ(ec, websocket::error::upgrade_declined) << ec.message();
    }
    // The same handshake by hand, to read the answer.
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect({asio::ip::make_address("127.0.0.1"), port_});
    beast::http::request<beast::http::empty_body> req{beast::http::verb::get,
                                                      "/api/cameras/door/live", 11};
    req.set(beast::http::field::host, "127.0.0.1");
    req.set(beast::http::field::upgrade, "websocket");
    req.set(beast::http::field::connection, "upgrade");
    req.set(beast::http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    req.set(beast::http::field::sec_websocket_version, "13");
    beast::http::write(socket, req);
    beast::flat_buffer buffer;
    beast::http::response<beast::http::string_body> res;
    beast::http::read(socket, buffer, res);
    EXPECT_EQ(res.result_int(), 401u);
    EXPECT_EQ(res[beast::http::field::content_type], "application/json");
    EXPECT_EQ(res.body(), "{\"error\": \"log in first\"}");
    EXPECT_EQ(api_.endpoint->closedCalls, 0);
}

TEST_F(WebSocketServer, AWebSocketOfferedToAPlainRequestIsAnError) {
    start("http://127.0.0.1:0");
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect({asio::ip::make_address("127.0.0.1"), port_});
    beast::http::request<beast::http::empty_body> req{beast::http::verb::get,
                                                      "/api/ws-offered-to-plain", 11};
    req.set(beast::http::field::host, "127.0.0.1");
    beast::http::write(socket, req);
    beast::flat_buffer buffer;
    beast::http::response<beast::http::string_body> res;
    beast::http::read(socket, buffer, res);
    EXPECT_EQ(res.result_int(), 500u);
}

TEST_F(WebSocketServer, TheSendQueueIsBoundedAndAClientThatLeavesIsNoticed) {
    start("http://127.0.0.1:0");
    {
        asio::io_context io;
        websocket::stream<tcp::socket> ws(io);
        ws.next_layer().connect({asio::ip::make_address("127.0.0.1"), port_});
        ws.handshake("127.0.0.1", "/api/ws");
        ws.text(true);
        ws.write(asio::buffer(std::string("flood")));
        for (int i = 0; i < 500 && api_.endpoint->floodAccepted == 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        // 1000 messages of 64 KiB offered without the client reading: the
        // queue took only up to its bound (8 MiB), the rest was refused.
        EXPECT_GT(api_.endpoint->floodAccepted, 10u);
        EXPECT_LT(api_.endpoint->floodAccepted, 1000u);
        EXPECT_LE(api_.endpoint->floodQueued, 8u * 1024 * 1024);
        // The client goes away without a close frame.
    }
    waitClosed();
}

TEST_F(WebSocketServer, StoppingTheServerClosesItsWebSockets) {
    start("http://127.0.0.1:0");
    asio::io_context io;
    websocket::stream<tcp::socket> ws(io);
    ws.next_layer().connect({asio::ip::make_address("127.0.0.1"), port_});
    ws.handshake("127.0.0.1", "/api/ws");
    beast::flat_buffer buffer;
    ws.read(buffer);
    stop();
    EXPECT_EQ(api_.endpoint->closedCalls, 1);
    beast::error_code ec;
    for (int i = 0; i < 3 && !ec; ++i)
        ws.read(buffer, ec);
    EXPECT_TRUE(ec);
}

}  // namespace
}  // namespace porchlight::web
