//! The two demo applications: names and fictional sample rows.

/// Which demo application a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoApp {
    /// "Một cửa điện tử": citizens' dossiers (hồ sơ) at the one-stop shop.
    OneStopShop,
    /// "Quản lý văn bản và điều hành": incoming and outgoing documents (văn bản đến/đi).
    Documents,
}

impl DemoApp {
    /// Short ASCII name, sent as the `x-demo-app` response header.
    pub fn slug(self) -> &'static str {
        match self {
            DemoApp::OneStopShop => "one-stop-shop",
            DemoApp::Documents => "documents",
        }
    }

    /// Vietnamese name shown as the page heading.
    pub fn name_vi(self) -> &'static str {
        match self {
            DemoApp::OneStopShop => "Một cửa điện tử",
            DemoApp::Documents => "Quản lý văn bản và điều hành",
        }
    }

    /// English name shown under the heading.
    pub fn name_en(self) -> &'static str {
        match self {
            DemoApp::OneStopShop => "One-stop shop (citizens' dossiers)",
            DemoApp::Documents => "Document management and e-office",
        }
    }

    /// Caption of the sample table.
    pub(crate) fn table_caption(self) -> &'static str {
        match self {
            DemoApp::OneStopShop => "Hồ sơ tiếp nhận gần đây (dữ liệu minh hoạ)",
            DemoApp::Documents => "Văn bản đến / đi gần đây (dữ liệu minh hoạ)",
        }
    }

    pub(crate) fn columns(self) -> &'static [&'static str] {
        match self {
            DemoApp::OneStopShop => &[
                "Mã hồ sơ",
                "Người nộp",
                "Thủ tục",
                "Ngày nhận",
                "Trạng thái",
            ],
            DemoApp::Documents => &["Số ký hiệu", "Loại", "Trích yếu", "Cơ quan", "Ngày"],
        }
    }

    /// Fictional rows; any resemblance to real people or documents is accidental.
    pub(crate) fn rows(self) -> &'static [&'static [&'static str]] {
        match self {
            DemoApp::OneStopShop => &[
                &[
                    "000.00.25.H40-241105-0012",
                    "Nguyễn Văn An",
                    "Cấp giấy phép xây dựng nhà ở riêng lẻ",
                    "05/11/2024",
                    "Đang xử lý",
                ],
                &[
                    "000.00.25.H40-241106-0031",
                    "Trần Thị Bích Ngọc",
                    "Đăng ký khai sinh",
                    "06/11/2024",
                    "Đã trả kết quả",
                ],
                &[
                    "000.00.25.H40-241107-0007",
                    "Lê Hoàng Phúc",
                    "Chứng thực bản sao từ bản chính",
                    "07/11/2024",
                    "Chờ bổ sung",
                ],
                &[
                    "000.00.25.H40-241108-0044",
                    "Phạm Minh Đức",
                    "Đăng ký thành lập hộ kinh doanh",
                    "08/11/2024",
                    "Đang xử lý",
                ],
            ],
            DemoApp::Documents => &[
                &[
                    "1234/UBND-VP",
                    "Văn bản đến",
                    "V/v triển khai dịch vụ công trực tuyến toàn trình",
                    "Văn phòng UBND tỉnh",
                    "04/11/2024",
                ],
                &[
                    "56/QĐ-STTTT",
                    "Văn bản đi",
                    "Quyết định ban hành quy chế bảo đảm an toàn thông tin",
                    "Sở Thông tin và Truyền thông",
                    "05/11/2024",
                ],
                &[
                    "789/SNV-CCVC",
                    "Văn bản đến",
                    "V/v báo cáo số lượng công chức, viên chức năm 2024",
                    "Sở Nội vụ",
                    "06/11/2024",
                ],
                &[
                    "102/TB-UBND",
                    "Văn bản đi",
                    "Thông báo lịch tiếp công dân tháng 11",
                    "UBND huyện Ý Yên",
                    "07/11/2024",
                ],
            ],
        }
    }
}
