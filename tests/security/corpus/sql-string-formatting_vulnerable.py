# ruff: noqa: UP031, UP032
import sqlite3


def find(conn: sqlite3.Connection, name: str) -> list:
    cur = conn.cursor()
    cur.execute(f"SELECT * FROM users WHERE name = '{name}'")  # expect: shunter.sql-string-formatting
    return cur.fetchall()


def by_id(conn: sqlite3.Connection, user_id: str) -> list:
    return conn.execute("SELECT * FROM users WHERE id = %s" % user_id).fetchall()  # expect: shunter.sql-string-formatting


def by_email(conn: sqlite3.Connection, email: str) -> list:
    query = "SELECT * FROM users WHERE email = '" + email + "'"
    return conn.execute(query).fetchall()  # expect: shunter.sql-string-formatting


def by_city(conn: sqlite3.Connection, city: str) -> list:
    sql = "SELECT * FROM users WHERE city = '{}'".format(city)
    return conn.execute(sql).fetchall()  # expect: shunter.sql-string-formatting
