//! A driver whose behaviour the test chooses through the `behave` setting: a good citizen that
//! writes and reads within its grants, or a hostile one (an endless loop, a memory bomb, a read of
//! data it was not granted, a panic).

wit_bindgen::generate!({ world: "driver", path: "../../../../wit" });

use databox::component::{config, datastore, log};
use exports::databox::component::handlers::{Guest, Request, Response};

struct TestDriver;

impl Guest for TestDriver {
    fn start() -> Result<(), String> {
        log::write(log::Level::Info, "started");
        Ok(())
    }

    fn on_timer() -> Result<(), String> {
        match config::get("behave").as_deref() {
            Some("spin") => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            Some("bomb") => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Some("snoop") => {
                let answer = datastore::read("secret", "latest").map_err(|e| format!("{e:?}"))?;
                log::write(log::Level::Info, &format!("read {} bytes", answer.len()));
                Ok(())
            }
            Some("panic") => panic!("a bug in the component"),
            _ => {
                let n = datastore::write("counter", "{\"value\": 1, \"source\": \"timer\"}").map_err(|e| format!("{e:?}"))?;
                let total = datastore::read("counter", "since/0/sum").map_err(|e| format!("{e:?}"))?;
                let seen = datastore::read("source", "latest").map_err(|e| format!("{e:?}"))?;
                log::write(log::Level::Info, &format!("wrote {n}; total {total}; source {seen}"));
                Ok(())
            }
        }
    }

    fn on_data(_: String, _: String) -> Result<(), String> {
        Ok(())
    }

    fn handle(_: Request) -> Response {
        Response { status: 404, headers: vec![], body: b"nothing here".to_vec() }
    }
}

export!(TestDriver);
