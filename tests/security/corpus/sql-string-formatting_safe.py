import sqlite3


def find(conn: sqlite3.Connection, name: str) -> list:
    cur = conn.cursor()
    cur.execute("SELECT * FROM users WHERE name = ?", (name,))
    return cur.fetchall()


def everything(conn: sqlite3.Connection) -> list:
    query = "SELECT * FROM users " + "ORDER BY id"
    return conn.execute(query).fetchall()
