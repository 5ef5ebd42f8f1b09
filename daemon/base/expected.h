// Errors as values: a small std::expected stand-in for C++20.
//
// Every fallible operation in Porchlight returns Expected<T>; the error is a
// message written for the person reading the log, saying what is wrong and,
// where we can tell, what to do about it.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace porchlight {

struct Error {
    std::string message;
};

inline Error makeError(std::string message) {
    return Error{std::move(message)};
}

template <typename T>
class [[nodiscard]] Expected {
public:
    Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Expected(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

    bool hasValue() const { return v_.index() == 0; }
    explicit operator bool() const { return hasValue(); }

    T& value() & {
        assert(hasValue());
        return std::get<0>(v_);
    }
    const T& value() const& {
        assert(hasValue());
        return std::get<0>(v_);
    }
    T&& value() && {
        assert(hasValue());
        return std::get<0>(std::move(v_));
    }
    const Error& error() const {
        assert(!hasValue());
        return std::get<1>(v_);
    }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Expected<void> {
public:
    Expected() = default;
    Expected(Error error) : error_(std::move(error)), ok_(false) {}

    bool hasValue() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const {
        assert(!ok_);
        return error_;
    }

private:
    Error error_;
    bool ok_ = true;
};

}  // namespace porchlight
