"""A small valid definition used as the base that tests mutate."""

MINIMAL = """\
id: mini
version: 1
title: {zh: 小流程, en: Mini}
initial: new
started_by: office
fields:
  unit:
    type: ref
    ref: unit
  category:
    type: enum
    options:
      policy: {zh: 政策, en: Policy}
      talent: {zh: 人才, en: Talent}
  count:
    type: integer
    default: 0
roles:
  office:
    group: office
  unit:
    field: unit
states:
  new:
    label: {zh: 新, en: New}
    deadline: {amount: 2, unit: working_days}
  doing:
    label: {zh: 辦理, en: Doing}
  done:
    label: {zh: 完成, en: Done}
    final: true
events:
  - name: start
    label: {zh: 開始, en: Start}
    from: new
    to: doing
    roles: office
  - name: finish
    label: {zh: 完成, en: Finish}
    from: doing
    to: done
    roles: [office, unit]
"""
