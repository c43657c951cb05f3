pub struct DevPki;
