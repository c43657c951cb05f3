//! The words on each error page: Vietnamese first, English second.

use super::ErrorPage;

/// Everything a person reads on one error page.
pub(crate) struct ErrorText {
    /// Machine-readable code used as `error` in the JSON variant.
    pub code: &'static str,
    pub title_vi: &'static str,
    pub title_en: &'static str,
    pub explain_vi: &'static str,
    pub explain_en: &'static str,
    pub next_vi: &'static str,
    pub next_en: &'static str,
}

const RETRY_VI: &str = "Thử lại sau ít phút.";
const RETRY_EN: &str = "Try again in a few minutes.";
const RETRY_SUPPORT_VI: &str =
    "Thử lại sau ít phút. Nếu lỗi vẫn tiếp diễn, hãy liên hệ bộ phận hỗ trợ \
                                và cung cấp mã yêu cầu bên dưới.";
const RETRY_SUPPORT_EN: &str =
    "Try again in a few minutes. If the problem persists, contact support \
                                and quote the request id below.";

pub(crate) fn error_text(page: ErrorPage) -> ErrorText {
    match page {
        ErrorPage::BadRequest => ErrorText {
            code: "bad_request",
            title_vi: "Yêu cầu không hợp lệ",
            title_en: "Bad request",
            explain_vi: "Cổng dịch vụ không thể xử lý yêu cầu vì yêu cầu không đúng định dạng.",
            explain_en: "The gateway could not process the request because it is malformed.",
            next_vi: "Kiểm tra lại địa chỉ hoặc thao tác vừa thực hiện rồi thử lại.",
            next_en: "Check the address or your last action and try again.",
        },
        ErrorPage::NotFound => ErrorText {
            code: "not_found",
            title_vi: "Không tìm thấy trang",
            title_en: "Page not found",
            explain_vi: "Trang bạn yêu cầu không tồn tại hoặc đã được chuyển đi.",
            explain_en: "The page you asked for does not exist or has moved.",
            next_vi: "Kiểm tra lại địa chỉ, hoặc quay về trang chủ để tìm dịch vụ bạn cần.",
            next_en: "Check the address, or go back to the home page to find the service you need.",
        },
        ErrorPage::Forbidden => ErrorText {
            code: "forbidden",
            title_vi: "Không có quyền truy cập",
            title_en: "Access denied",
            explain_vi: "Tài khoản của bạn không được phép truy cập trang này.",
            explain_en: "Your account is not allowed to access this page.",
            next_vi: "Liên hệ quản trị viên của đơn vị nếu bạn cần được cấp quyền.",
            next_en: "Contact your agency's administrator if you need access.",
        },
        ErrorPage::PayloadTooLarge => ErrorText {
            code: "payload_too_large",
            title_vi: "Dữ liệu gửi lên quá lớn",
            title_en: "Payload too large",
            explain_vi: "Tệp hoặc dữ liệu bạn gửi vượt quá dung lượng cho phép.",
            explain_en: "The file or data you sent exceeds the allowed size.",
            next_vi: "Giảm dung lượng tệp (nén hoặc chia nhỏ) rồi gửi lại.",
            next_en: "Reduce the file size (compress or split it) and send it again.",
        },
        ErrorPage::HeadersTooLarge => ErrorText {
            code: "request_header_fields_too_large",
            title_vi: "Phần đầu yêu cầu quá lớn",
            title_en: "Request headers too large",
            explain_vi: "Phần đầu của yêu cầu (header hoặc cookie) vượt quá giới hạn cho phép.",
            explain_en: "The request headers or cookies exceed the allowed size.",
            next_vi: "Xoá cookie của trang này trong trình duyệt rồi thử lại.",
            next_en: "Clear this site's cookies in your browser and try again.",
        },
        ErrorPage::TooManyRequests => ErrorText {
            code: "too_many_requests",
            title_vi: "Quá nhiều yêu cầu",
            title_en: "Too many requests",
            explain_vi: "Bạn đã gửi quá nhiều yêu cầu trong một thời gian ngắn.",
            explain_en: "You sent too many requests in a short time.",
            next_vi: RETRY_VI,
            next_en: RETRY_EN,
        },
        ErrorPage::BadGateway => ErrorText {
            code: "bad_gateway",
            title_vi: "Ứng dụng tạm thời không phản hồi",
            title_en: "The application is temporarily not responding",
            explain_vi: "Cổng dịch vụ không nhận được phản hồi hợp lệ từ ứng dụng.",
            explain_en: "The gateway did not get a valid response from the application.",
            next_vi: RETRY_SUPPORT_VI,
            next_en: RETRY_SUPPORT_EN,
        },
        ErrorPage::ServiceUnavailable => ErrorText {
            code: "service_unavailable",
            title_vi: "Dịch vụ tạm thời gián đoạn",
            title_en: "Service temporarily unavailable",
            explain_vi: "Hệ thống đang quá tải hoặc đang được bảo trì.",
            explain_en: "The system is overloaded or under maintenance.",
            next_vi: RETRY_VI,
            next_en: RETRY_EN,
        },
        ErrorPage::GatewayTimeout => ErrorText {
            code: "gateway_timeout",
            title_vi: "Ứng dụng phản hồi quá chậm",
            title_en: "The application took too long to respond",
            explain_vi: "Ứng dụng không phản hồi trong thời gian cho phép.",
            explain_en: "The application did not answer within the allowed time.",
            next_vi: RETRY_SUPPORT_VI,
            next_en: RETRY_SUPPORT_EN,
        },
        ErrorPage::InternalError => ErrorText {
            code: "internal_error",
            title_vi: "Lỗi hệ thống",
            title_en: "Internal error",
            explain_vi: "Đã xảy ra lỗi không mong muốn trong cổng dịch vụ.",
            explain_en: "An unexpected error occurred in the gateway.",
            next_vi: RETRY_SUPPORT_VI,
            next_en: RETRY_SUPPORT_EN,
        },
    }
}
